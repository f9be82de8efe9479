"""Pure normalization of identifier values: emails, phones and country names.

Each function takes one raw value and returns the normalized value or the reason it was rejected; nothing here
touches the warehouse. The normalization step (outflow/phones.py) applies them once per distinct raw value and
records every rejection with its reason, so a value is never dropped silently.

- `clean_text` removes every kind of Unicode whitespace, including zero-width characters and NBSP, at the ends
  and (for identifiers that cannot contain spaces) inside.
- `email` unwraps `<x@y>`, `Name <x@y>`, `mailto:x@y` and trailing dots, checks the syntax with email-validator
  (no DNS) and returns the address in lower case and its matching form (plus-tag removed; gmail dots removed).
- `phone` strips labels (`mobile`, `mob.`, `tel:`), reads the `00` international prefix, parses with
  phonenumbers for a region, and keeps the extension as its own attribute.
- `country_iso2` resolves a country name, code or native name (España, Sverige, Brasil) with pycountry.

`EmailChecker` and `PhoneChecker` give the same results for many values at a time, at less cost: each distinct
local part, domain and number is checked once. `plain_emails` and `plain_phone_keys` do the usual values' part of
that for all of them at once, in polars; a dot-atom local part, an evident `+` number and a number valid in its
country code's main region skip part of the libraries' work (each proven equal in tests/unit/test_normalize.py).
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import phonenumbers
import polars as pl
import pycountry
from email_validator import EmailNotValidError, validate_email

# Unicode whitespace and invisible format characters (zero-width space/joiners, word joiner, BOM, soft hyphen).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_SPACE_RE = re.compile(rf"[\s{_INVISIBLE}]+", re.UNICODE)


def clean_text(raw: str | None, *, keep_inner_spaces: bool = False) -> str | None:
    """`raw` without invisible characters; inner whitespace removed (or collapsed to one space); None if empty."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw)
    text = _SPACE_RE.sub(" " if keep_inner_spaces else "", text).strip()
    return text or None


@dataclass(frozen=True)
class Email:
    address: str | None  # lower case, as typed once unwrapped (plus-tags kept)
    canonical: str | None  # the matching form
    reason: str | None  # why it was rejected, when address is None


_ANGLE_RE = re.compile(r"<([^<>]*)>")


def email(raw: str | None) -> Email:
    """Normalize one raw email value (see the module docstring)."""
    text = email_text(raw)
    return text if isinstance(text, Email) else email_checked(text)


# What makes a printable ASCII email need more than its outer spaces removed: inner spaces, wrapping, quotes
_NOT_PLAIN = frozenset(" <:\"'")


def email_text(raw: str | None) -> str | Email:
    """The cheap first part of `email`: the address as typed once unwrapped and cleaned, or its rejection."""
    if raw is not None and raw.isascii():  # the usual value: printable ASCII, nothing to unwrap, as typed
        plain = raw.strip(" ")
        if "@" in plain and plain.isprintable() and _NOT_PLAIN.isdisjoint(plain) and not plain.endswith("."):
            return plain
    text = clean_text(raw, keep_inner_spaces=True)
    if text is None:
        return Email(None, None, "empty")
    wrapped = _ANGLE_RE.search(text)
    if wrapped:  # "<x@y>" or "Name <x@y>"
        text = wrapped.group(1)
    text = clean_text(text) or ""
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :].split("?", 1)[0]
    text = text.strip("\"'").rstrip(".")
    if "@" not in text:
        return Email(None, None, "not an email address: no @")
    return text


def email_checked(text: str) -> Email:
    """The second part of `email`: `email_text`'s result checked with email-validator and put in matching form."""
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as e:
        return Email(None, None, f"invalid email: {e}")
    address = f"{valid.local_part}@{valid.domain}".lower()
    return Email(address, canonical_address(address), None)


# Longer texts (or results) are validated whole, so no length limit of the whole address can apply to the split.
_SPLIT_MAX_LENGTH = 200


@cache
def _no_domain() -> str:
    """email-validator's reason for an address with a valid local part and nothing after the `@`."""
    try:
        validate_email("a@", check_deliverability=False)
    except EmailNotValidError as e:
        return str(e)
    raise AssertionError("email-validator accepted an address without a domain")


# RFC 5322's dot-atom (3.2.3) in ASCII: atext characters, dots only between them. email-validator accepts such a
# local part whenever it is no longer than RFC 5321's 64 characters (4.5.3.1.1), in strict mode too, and keeps it as
# typed: `validate_email(local + "@")` then fails only for the missing domain (tests/unit/test_normalize.py checks
# it on email-validator's own test addresses and on random ones). Any other local part is validated.
_ATEXT = "A-Za-z0-9" + "".join("\\" + c for c in "!#$%&'*+-/=?^_`{|}~")
_DOT_ATOM = rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
_DOT_ATOM_RE = re.compile(_DOT_ATOM)
_LOCAL_MAX_LENGTH = 64


class EmailChecker:
    """`email_checked` for many values, each distinct local part and each distinct domain validated once.

    email-validator's `validate_email` splits the address at its `@`, checks the local part, then the domain, then
    the whole address's length, and raises the first failure. So an address with one `@`, in ASCII, without quotes
    or angle brackets and too short for a length limit, is checked as its two parts, each with `validate_email`:
    the local part as `local@` (its own rejection, or, when it is valid, the rejection of the missing domain), the
    domain as `a@domain` (its normalized and ASCII forms, or its rejection). A valid ASCII local part without
    quotes is kept as typed, and the address is lower-cased: the same result and the same rejection reason as
    `email_checked`, at about a third of its cost (the domain's IDNA checks are most of it). Any other text is
    validated whole. A dot-atom local part is valid without a call (`_DOT_ATOM`), so `locals` holds only the
    others; `domains` holds every domain checked (a few thousand at 1M people)."""

    def __init__(self) -> None:
        self.locals: dict[str, str | None] = {}  # None: valid; else the rejection
        self.domains: dict[str, tuple[str, str] | str] = {}

    def __call__(self, text: str) -> Email:
        if len(text) > _SPLIT_MAX_LENGTH or not text.isascii() or text.count("@") != 1 or '"' in text or "<" in text:
            return email_checked(text)
        local, domain_text = text.split("@")
        if (reason := self._local(local)) is not None:
            return Email(None, None, f"invalid email: {reason}")
        domain = self.domain(domain_text)
        if isinstance(domain, str):
            return Email(None, None, f"invalid email: {domain}")
        normalized, ascii_form = f"{local}@{domain[0]}", f"{local}@{domain[1]}"
        if max(len(normalized.encode()), len(ascii_form.encode())) > _SPLIT_MAX_LENGTH:
            return email_checked(text)
        address = normalized.lower()
        return Email(address, canonical_address(address), None)

    def _local(self, text: str) -> str | None:
        if len(text) <= _LOCAL_MAX_LENGTH and _DOT_ATOM_RE.fullmatch(text):
            return None  # a dot-atom: valid without a call (see `_DOT_ATOM`)
        if text not in self.locals:
            try:
                validate_email(text + "@", check_deliverability=False)
                self.locals[text] = None
            except EmailNotValidError as e:
                self.locals[text] = None if str(e) == _no_domain() else str(e)
        return self.locals[text]

    def domain(self, text: str) -> tuple[str, str] | str:
        """The domain's normalized and ASCII forms, or its rejection (validated once)."""
        if (known := self.domains.get(text)) is None:
            try:
                valid = validate_email("a@" + text, check_deliverability=False)
                known = (valid.domain, valid.ascii_domain)
            except EmailNotValidError as e:
                known = str(e)
            self.domains[text] = known
        return known


def plain_emails(raws: pl.Series, checker: EmailChecker) -> pl.DataFrame:
    """`email(raw)`'s address and matching form for each raw value of the usual kind, both null for the others.

    The usual kind, decided for all values at once: printable ASCII (kept as typed but its outer spaces by
    `email_text`) whose lower-cased text is a dot-atom local part of at most 64 characters (valid without a call,
    see `_DOT_ATOM`), one `@` and a domain that `checker` finds valid with an ASCII normalized form, 200
    characters at most in all. That is the path `email` takes for such a value, so the results are the same; each
    distinct domain is validated once by `checker`. A value of any other kind needs `email`."""
    text = pl.col("raw").str.strip_chars(" ")
    frame = pl.DataFrame({"raw": raws}, schema={"raw": pl.String}).select(
        pl.when(
            pl.col("raw").str.contains(r"^[ -~]*$")  # printable ASCII
            & ~text.str.contains(r"[ <:\"']")
            & ~text.str.ends_with(".")
            & (text.str.len_bytes() <= _SPLIT_MAX_LENGTH)
        )
        .then(text.str.to_lowercase().str.extract_groups(rf"^({_DOT_ATOM})@([^@]*)$"))
        .struct.rename_fields(["local", "domain_text"])
        .struct.unnest()
    )
    forms = {"domain_text": [], "domain": [], "ascii_length": []}
    for text in frame.get_column("domain_text").drop_nulls().unique().to_list():
        known = checker.domain(text)
        if isinstance(known, tuple) and known[0].isascii():
            forms["domain_text"].append(text)
            forms["domain"].append(known[0].lower())
            forms["ascii_length"].append(max(len(known[0]), len(known[1])))
    local = pl.col("local")
    tagless = local.str.extract(r"^([^+]*)", 1)
    tagless = pl.when(tagless == "").then(local).otherwise(tagless)
    gmail = pl.col("domain").is_in(["gmail.com", "googlemail.com"])
    valid = (local.str.len_bytes() <= _LOCAL_MAX_LENGTH) & (
        local.str.len_bytes() + 1 + pl.col("ascii_length") <= _SPLIT_MAX_LENGTH
    )
    schema = {"domain_text": pl.String, "domain": pl.String, "ascii_length": pl.Int64}
    return frame.join(pl.DataFrame(forms, schema=schema), on="domain_text", how="left", maintain_order="left").select(
        address=pl.when(valid).then(pl.concat_str(local, pl.lit("@"), pl.col("domain"))),
        canonical=pl.when(valid).then(
            pl.when(gmail)
            .then(pl.concat_str(tagless.str.replace_all(".", "", literal=True), pl.lit("@gmail.com")))
            .otherwise(pl.concat_str(tagless, pl.lit("@"), pl.col("domain")))
        ),
    )


def canonical_address(address: str) -> str:
    """The matching form of a valid, lower-case address: plus-tag removed; gmail dots removed, domain gmail.com."""
    local, domain = address.rsplit("@", 1)
    local = local.split("+", 1)[0] or local  # "+tag@x.com" has no tag to drop: kept whole, never "@x.com"
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Phone:
    e164: str | None
    extension: str | None
    reason: str | None


# Labels people type before a number: "mobile:", "mob.", "tel:", "phone", "cell", "work" (any case).
_LABEL_RE = re.compile(r"^\s*(?:mobile|mob|tel|telephone|phone|ph|cell|work|home|fax|m|t)\b\s*[.:#-]?\s*", re.I)


def phone(raw: str | None, region: str | None) -> Phone:
    """`raw` in E.164 with its extension apart, read as a number of `region` when it has no country code."""
    text = phone_text(raw)
    return text if isinstance(text, Phone) else phone_parsed(text, region)


def phone_text(raw: str | None) -> str | Phone:
    """The cheap first part of `phone`: the number as typed without labels, `tel:` and a `00` prefix (read as
    `+`), or its rejection."""
    text = clean_text(raw, keep_inner_spaces=True)
    if text is None:
        return Phone(None, None, "empty")
    text = _LABEL_RE.sub("", text, count=1).strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    digits_start = text.lstrip("( ")
    if digits_start.startswith("00"):  # the international prefix of most of the world
        text = "+" + digits_start[2:]
    return text


def phone_parsed(text: str, region: str | None) -> Phone:
    """The second part of `phone`: `phone_text`'s result parsed and checked with phonenumbers."""
    try:
        number = _international(text) or phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as e:
        return Phone(None, None, f"not a phone number: {e}")
    if not _is_valid(number):
        where = f"for region {region}" if region and not text.startswith("+") else "for its country code"
        return Phone(None, None, f"not a valid number {where}")
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), number.extension, None)


@cache
def _main_region(country_code: int) -> str | None:
    """The main region of a country code shared by several (the US for 1, Great Britain for 44) when phonenumbers
    tells its numbers by their type alone (no leading-digits pattern); else None."""
    regions = phonenumbers.region_codes_for_country_code(country_code)
    main = phonenumbers.PhoneMetadata.metadata_for_region(regions[0]) if len(regions) > 1 else None
    return regions[0] if main is not None and main.leading_digits is None else None


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, sooner for a number of its country code's main region.

    `is_valid_number` finds the number's region (`region_code_for_number`: the first region of the country code,
    in phonenumbers' order, that the number's leading digits or type fit) and checks the number's type there. The
    main region comes first; without a leading-digits pattern it is the number's region exactly when the number
    is valid there. So a number valid for the main region is valid, found with one type check where
    `is_valid_number` makes two; any other is checked by `is_valid_number`."""
    main = _main_region(number.country_code)
    return (main is not None and phonenumbers.is_valid_number_for_region(number, main)) or (
        phonenumbers.is_valid_number(number)
    )


_INTERNATIONAL_RE = re.compile(r"\+([1-9][0-9]{2,})")


def _international(text: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse(text)` for a `+` and digits whose reading is evident, without parsing; else None.

    phonenumbers reads such a text as its country code (the shortest of the first one to three digits that is
    one), then the national number; it strips a national prefix there if the country's pattern for it matches
    (`PhoneMetadata.national_prefix_for_parsing`: `1` in the US, `0` in Great Britain, more in Argentina or
    Brazil), marks leading zeros, and rejects national numbers of fewer than 2 or more than 17 digits. A national
    number that has none of these is evident: the number is built from the two parts as `parse` would build it
    (tests/unit/test_normalize.py compares them). About half of `parse`'s cost, and most numbers written `+`."""
    match = _INTERNATIONAL_RE.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1)
    for size in (1, 2, 3):
        if (code := int(digits[:size])) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not 2 <= len(national) <= 17 or national[0] == "0":
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    prefix = metadata and metadata.national_prefix_for_parsing
    if metadata is None or (prefix and re.match(prefix, national)):
        return None
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


# A number written with digits, spaces, dots, dashes and parentheses only (and a leading `+`)
_PLAIN_NUMBER_RE = re.compile(r"\+?[0-9 .()-]*")
_NOT_DIGIT_RE = re.compile(r"[^0-9]")


class PhoneChecker:
    """`phone` for many (raw, region) pairs, each distinct number parsed once.

    phonenumbers reads a number from its digits: it skips the punctuation around them (spaces, dots, dashes,
    parentheses), and a leading `+` makes it ignore the region. So a number written with these characters only,
    with at least three digits (fewer can make the punctuation matter: `12` is a number, `1 2` is not), is parsed
    once per (`+`, its digits, the region unless it has a `+`): `(212) 206-8963`, `212.206.8963` and `2122068963`
    in the US are one parse, `+44 7400 123456` in every region another. It gets the same result and the same
    rejection reason as `phone`; any other text (labels left, letters, an extension) is parsed as typed, once per
    (text, region)."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, str | None], Phone] = {}

    def __call__(self, raw: str | None, region: str | None) -> Phone:
        text = phone_text(raw)
        if isinstance(text, Phone):
            return text
        key = (text, region)
        if len(text) <= 100 and _PLAIN_NUMBER_RE.fullmatch(text):
            digits = _NOT_DIGIT_RE.sub("", text)
            if len(digits) >= 3:
                key = ("+" + digits, None) if text.startswith("+") else (digits, region)
        return self.key(*key)

    def key(self, text: str, region: str | None) -> Phone:
        """`phone_parsed(text, region)`, once per (text, region)."""
        if (known := self.parsed.get((text, region))) is None:
            known = self.parsed[(text, region)] = phone_parsed(text, region)
        return known


def plain_phone_keys(raws: pl.Series, regions: pl.Series) -> pl.DataFrame:
    """`PhoneChecker`'s key (number, region) of each (raw, region) pair written plainly, both null for the others.

    Written plainly: up to 100 characters of digits, spaces, dots, dashes and parentheses, with a `+` only at the
    start, at least three digits. `phone_text` leaves such a value as it is but its spaces and a `00` prefix
    (read as `+`), so its key is its digits (without that `00`) and the region, or `+`, the digits and no region.
    Decided for all pairs at once; a pair of any other kind needs `PhoneChecker`."""
    raw = pl.col("raw")
    plus = raw.str.contains(r"^ *\+")
    double_zero = raw.str.contains(r"^[ (]*00")
    digits = raw.str.replace_all(r"[^0-9]", "")
    digits = pl.when(double_zero).then(digits.str.slice(2)).otherwise(digits)
    plain = raw.str.contains(r"^ *\+?[0-9 .()-]*$") & (raw.str.len_chars() <= 100) & (digits.str.len_bytes() >= 3)
    international = plus | double_zero
    return pl.DataFrame({"raw": raws, "region": regions}, schema={"raw": pl.String, "region": pl.String}).select(
        number=pl.when(plain).then(pl.when(international).then(pl.concat_str(pl.lit("+"), digits)).otherwise(digits)),
        key_region=pl.when(plain & ~international).then(pl.col("region")),
    )


# Names people use that are not a country's name in any language pycountry knows.
_COLLOQUIAL = {
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "holland": "NL",
    "the netherlands": "NL",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "south korea": "KR",
    "russia": "RU",
}


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@cache
def _country_index() -> dict[str, str]:
    """Folded name → alpha-2, for codes, English names and each name's translation in every pycountry locale."""
    index: dict[str, str] = {}
    english: list[tuple[str, str]] = []
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            if value := getattr(c, attr, None):
                english.append((value, c.alpha_2))
    for locale in sorted(_locales()):
        try:
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[locale])
        except OSError:
            continue
        for value, code in english:
            index.setdefault(_fold(tr.gettext(value)), code)
    for value, code in english:  # English wins over a translation that happens to collide
        index[_fold(value)] = code
    for c in pycountry.countries:
        index[c.alpha_2.casefold()] = c.alpha_2
        index[c.alpha_3.casefold()] = c.alpha_2
    index.update(_COLLOQUIAL)
    return index


def _locales() -> list[str]:
    from pathlib import Path

    return [p.name for p in Path(pycountry.LOCALES_DIR).iterdir() if (p / "LC_MESSAGES" / "iso3166-1.mo").exists()]


def country_iso2(raw: str | None) -> str | None:
    """The ISO 3166 alpha-2 code of a country name, code or native name; None when it names no country."""
    text = clean_text(raw, keep_inner_spaces=True)
    if text is None:
        return None
    return _country_index().get(_fold(text))
