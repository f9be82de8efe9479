"""Meta's own normalizer test vectors (tests/data/meta_normalization) through ``activations.hashing``: each one
passes, or is refused by a rule written down below (and in that folder's README) where Meta's normalizer and
Meta's published parameter rules (or E.164, ISO 3166, RFC 5322) disagree."""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from pathlib import Path

from activations.hashing import is_sha256, meta_normalize, state_code

VECTORS = json.loads((Path(__file__).parents[2] / "data" / "meta_normalization" / "vectors.json").read_text())


def _digits(s: str | None) -> int:
    return len(re.sub(r"\D", "", s or ""))


def _odd_chars(s: str) -> bool:
    return any(unicodedata.category(ch)[0] in "CSPZ" and ch not in " -" for ch in s if not ch.isascii()) or any(
        unicodedata.category(ch) == "Cc" for ch in s
    )


CONTRADICTIONS = {
    # key: (the rule we follow instead, which vectors it explains)
    "PHONE": ("E.164: a phone number has 7 to 15 digits; shorter or longer is no one's number and is dropped",
              lambda v, got: got == "" and not 7 <= _digits(v["expected"]) <= 15),
    "DOB": ("a date of birth is a real calendar date from 1900 to today, written with ASCII digits; no month/day "
            "swap of an impossible date", lambda v, got: got == ""),
    "DOBY": ("a birth year is 1900 to this year", lambda v, got: got == ""),
    "GEN": ("gender is f or m from f/female/woman or m/male/man only; no inference from titles, kinship or "
            "pronouns", lambda v, got: got == ""),
    "ST": ("a US state or Canadian province name maps to its code (ISO 3166-2); any other value is sent lower "
           "case without punctuation or spaces, as Meta's parameter rules say, never cut to two letters",
           lambda v, got: state_code(v["input"]) == ""),
    "COUNTRY": ("a country is an ISO 3166-1 code or a name pycountry knows; anything else is dropped, never "
                "guessed from its first two letters", lambda v, got: got == ""),
    "CT": ("Meta's parameter rules keep UTF-8 letters (Meta's own example: Valéry) and digits; the normalizer "
           "drops non-Latin letters and cities starting with a digit",
           lambda v, got: not v["input"].isascii() or bool(re.match(r"\W*\d", v["input"]))),
    "ZIP": ("no spaces, the part before the first dash; a value that is only a dash prefix or control "
            "characters is cleaned, not dropped", lambda v, got: True),
    "FN": ("all Unicode punctuation and symbols go (dashes, emoji), not only ASCII punctuation",
           lambda v, got: _odd_chars(v["input"])),
    "EXTERN_ID": ("an id is the trimmed, lower-cased text without whitespace or control characters; no JavaScript "
                  "Date rendering", lambda v, got: "gmt" in (v["expected"] or "") or _odd_chars(v["input"])),
    "EMAIL": ("an address is RFC 5322 valid (email-validator): a second unquoted @ is refused",
              lambda v, got: v["input"].count("@") > 1),
}  # fmt: skip


def _same(got: str, expected: str | None) -> bool:
    if expected and is_sha256(expected):
        return got == expected.lower()  # a digest passes through, lower-cased (hex is case-insensitive)
    return (got or None) == expected


def test_every_meta_vector_passes_or_follows_a_documented_rule() -> None:
    passed, unexplained = 0, []
    for v in VECTORS:
        got = meta_normalize(v["key"], v["input"])
        if _same(got, v["expected"]):
            passed += 1
            continue
        rule = CONTRADICTIONS.get(v["key"])
        if rule is None or not rule[1](v, got):
            unexplained.append((v["key"], v["input"][:60], v["expected"], got))
    assert not unexplained, unexplained[:20]
    assert passed >= 1570, passed  # of 1,878: the rest are the documented contradictions above


def test_issue_examples_now_match() -> None:
    cases = [
        ("FN", "Mary Ann", "maryann"),  # spaces inside names
        ("EXTERN_ID", " CRM-42 ", "crm-42"),  # external ids lower-cased
        ("ST", "British Columbia", "bc"),  # state names mapped to codes
        ("COUNTRY", "United States of America", "us"),  # country names kept
        ("COUNTRY", "Russia", "ru"),  # an everyday name inside ISO's ("Russian Federation")
        ("COUNTRY", "Indiana", ""),  # a US state is no country, and India is not a prefix of it
        ("DOB", "12/31/1990", "19901231"),  # non-ISO dates
        ("DOBY", "31.12.1990", "1990"),
        ("PHONE", "555-123-4567", "5551234567"),  # no US 1 guessed
        ("EMAIL", "test..name@example.com", ""),  # malformed emails refused
    ]
    for key, raw, norm in cases:
        assert meta_normalize(key, raw) == norm, (key, raw)
    assert meta_normalize("PHONE", "555-123-4567", default_region="US") == "15551234567"
    assert meta_normalize("DOBY", dt.date(1990, 12, 31)) == "1990"


def test_the_readme_lists_every_rule() -> None:
    readme = (Path(__file__).parents[2] / "data" / "meta_normalization" / "README.md").read_text()
    for key in CONTRADICTIONS:
        assert f"| {key} |" in readme, key


def test_every_google_formatting_example_passes() -> None:
    from activations.hashing import (
        google_country_code,
        google_normalize_email,
        google_normalize_first_name,
        google_normalize_last_name,
        google_normalize_phone,
        google_postal_code,
    )

    fns = {
        "email": lambda v: google_normalize_email(v["input"]),
        "phone": lambda v: google_normalize_phone(v["input"], v.get("region")),
        "first_name": lambda v: google_normalize_first_name(v["input"]),
        "last_name": lambda v: google_normalize_last_name(v["input"]),
        "country_code": lambda v: google_country_code(v["input"]),
        "postal_code": lambda v: google_postal_code(v["input"], v.get("region")),
    }
    vectors = json.loads((Path(__file__).parents[2] / "data" / "google_formatting" / "vectors.json").read_text())
    assert len(vectors) == 12
    for v in vectors:
        assert fns[v["field"]](v) == v["expected"], v
