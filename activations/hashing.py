"""Normalization and SHA-256 hashing of personal data for ad platforms, one place for every rule.

Meta (Custom Audiences / Conversions API customer information parameters, checked against Meta's own normalizer
test vectors in tests/data/meta_normalization, where every departure is listed with the rule it follows):
- EMAIL: trim, lower case; a syntactically invalid address (``email-validator``: ``a..b@x.com``, ``a@b``) is
  dropped.  PHONE: digits only, ``+``/``00`` prefix removed; a country code is added only when the sync names a
  ``default_region`` (Meta never guesses one), then as E.164 digits.
- FN, LN: lower case, no whitespace and no punctuation (``Mary Ann`` -> ``maryann``; UTF-8 letters kept).
- CT: lower case, no punctuation, no spaces.  ST: a US state or Canadian province name -> its 2-letter code
  (ISO 3166-2 names from ``pycountry``); otherwise lower case, no punctuation, no spaces.
- ZIP: lower case, no spaces; the part before the first dash; US: the first 5 digits; UK: area, district and
  sector (``M1 1AE`` -> ``m11ae``).  COUNTRY: ISO 3166-1 alpha-2, lower case; country names and alpha-3 codes
  mapped (``pycountry``).  DOB: ``YYYYMMDD`` from ISO, ``MM-DD-YYYY``, ``DD-MM-YYYY`` (when the day is over 12)
  and ``YYYYMMDD`` with any separator; DOBY: its 4-digit year, 1900 to this year.  GEN: ``f``/``m``.
- A value that cannot be normalized (an EMAIL without ``@``, a PHONE of too few digits, an unknown GEN) is
  left blank, as Meta asks for unknown keys; a row left with no identifier is set aside, never sent.
- EXTERN_ID: trimmed and lower-cased (Meta's normalizer), never hashed.
Google Ads Customer Match (UserIdentifier; Google's "Format user data" guide of the Data Manager API and the
Google Ads API field reference of OfflineUserAddressInfo):
- email: lower case; leading, trailing AND intermediate whitespace removed; for gmail.com / googlemail.com every
  dot before the ``@`` removed and the ``+tag`` dropped (``j.doe+news@gmail.com`` -> ``jdoe@gmail.com``);
- phone: E.164, ``+`` and the country code, digits only (``(800)555-0100`` -> ``+18005550100``);
- first name: lower case, spaces trimmed and runs of inner spaces collapsed, no prefix such as ``Mrs.``;
- last name: lower case, trimmed, no punctuation, no suffix such as ``Jr.``;
- country code: ISO-3166-1 alpha-2 (country names and alpha-3 codes mapped, ``pycountry``), NOT hashed;
  postal code: trimmed, NOT hashed; US: 5 digits, or 5 digits and
  the 4-digit extension (``94045-1234``).
A value that is already a SHA-256 digest (64 hex characters) passes through (lower-cased), never re-hashed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
from typing import Any

import email_validator
import phonenumbers
import pycountry

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
_HEX64 = re.compile(SHA256_PATTERN)
_NON_DIGIT = re.compile(r"\D+")

META_HASHED_KEYS = ("EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "DOBY", "GEN")
META_KEYS = (*META_HASHED_KEYS, "EXTERN_ID")
GOOGLE_HASHED_FIELDS = ("email", "phone", "first_name", "last_name")

HASHED_FIELDS: dict[str, frozenset[str]] = {
    "meta_audiences": frozenset(META_HASHED_KEYS),
    "google_ads_customer_match": frozenset(GOOGLE_HASHED_FIELDS),
}
"""Per destination type, the destination fields it hashes by the rules above, passing digests through
(``Destination.accepts_digest``): the sync engine accepts a pre-hashed value there instead of an address."""


def is_sha256(value: str) -> bool:
    return bool(_HEX64.match(value))


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else unicodedata.normalize("NFC", str(value)).strip()


def _strip_punct(s: str, *, spaces: bool) -> str:
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat[0] in "PS":
            continue
        if ch.isspace() and not spaces:
            continue
        out.append(ch)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def normalize_phone_digits(value: Any, default_region: str | None = None) -> str:
    """Meta's phone form: digits only, without a ``+`` or ``00`` prefix. With ``default_region`` a number
    without an international prefix is read as that country's and given its country code (E.164 digits);
    without one, the digits stay as written (Meta's normalizer never guesses a country)."""
    s = _text(value)
    digits = _NON_DIGIT.sub("", s)
    if s.startswith("+") or digits.startswith("00"):
        e164 = normalize_phone_e164("+" + digits.lstrip("0"))
    else:
        e164 = normalize_phone_e164(s, default_region) if default_region else ""
    return e164[1:] if e164 else digits.lstrip("0")


def normalize_phone_e164(value: Any, default_region: str | None = None) -> str:
    """E.164 (``+16505551212``), or "" when the number cannot be parsed as valid."""
    s = _text(value)
    if not s:
        return ""
    try:
        num = phonenumbers.parse(s, None if s.startswith("+") else (default_region or "US").upper())
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(num):
        return ""
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def valid_email(address: str) -> bool:
    """Whether ``address`` is a syntactically valid address (``email-validator``, no DNS look-up)."""
    try:
        email_validator.validate_email(address, check_deliverability=False, allow_quoted_local=True)
    except email_validator.EmailNotValidError:
        return False
    return True


def _letters(s: str) -> str:
    """Lower-case ASCII letters only (``United-States`` -> ``unitedstates``)."""
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", s.lower()).encode("ascii", "ignore").decode())


@functools.cache
def _country_names() -> dict[str, str]:
    """Letters-only ISO 3166-1 names (short, official, common) and alpha-3 codes -> alpha-2 (``pycountry``)."""
    out: dict[str, str] = {}
    for c in pycountry.countries:
        for name in (c.name, getattr(c, "official_name", ""), getattr(c, "common_name", ""), c.alpha_3):
            if name and (k := _letters(name)):
                out.setdefault(k, c.alpha_2)
    return out


@functools.lru_cache(maxsize=4096)
def country_code(value: str) -> str:
    """ISO 3166-1 alpha-2 (upper case) for a code or a country name, or "" if none is recognised."""
    letters = _letters(value)
    if len(letters) == 2:
        return letters.upper() if pycountry.countries.get(alpha_2=letters.upper()) else ""
    if len(letters) < 3:
        return ""
    names = _country_names()
    if letters in names:
        return names[letters]
    # a name followed by more words ("CanadaCountry", "United States of America"): the longest run of whole
    # leading words that is a known name (never a word cut short: "Indiana" is not India)
    ascii_value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", ascii_value)]
    for n in range(len(words) - 1, 0, -1):
        if (k := "".join(words[:n])) in names and len(k) > 3:
            return names[k]
    try:  # everyday names inside ISO's ("Russia" in "Russian Federation", "Vatican", "Palestine")
        found = pycountry.countries.search_fuzzy(value)
    except LookupError:
        return ""
    # only a country whose own name holds the value (search_fuzzy also matches subdivisions: Indiana -> US)
    own = {c.alpha_2 for c in found if any(letters in k for k, cc in names.items() if cc == c.alpha_2)}
    return own.pop() if len(own) == 1 else ""


@functools.cache
def _subdivision_names() -> dict[str, str]:
    """Letters-only names of US states and Canadian provinces -> their 2-letter code (ISO 3166-2, ``pycountry``)."""
    out: dict[str, str] = {}
    for cc in ("US", "CA"):
        for sub in pycountry.subdivisions.get(country_code=cc) or ():
            out[_letters(sub.name)] = sub.code.split("-", 1)[1].lower()
    return out


def state_code(value: Any) -> str:
    """The 2-letter code of a US state or Canadian province given by code or by name, or ""."""
    letters = _letters(_text(value))
    names = _subdivision_names()
    if len(letters) == 2 and letters in names.values():
        return letters
    return names.get(letters, "")


_DATE_PARTS = re.compile(r"(\d{1,4})\D+(\d{1,2})\D+(\d{1,4})", re.ASCII)


def normalize_dob(value: Any) -> str:
    """A date of birth as ``YYYYMMDD``: ISO and ``YYYY.MM.DD`` with any separator, ``MM-DD-YYYY`` (US) or
    ``DD-MM-YYYY`` when the first part cannot be a month, and ``YYYYMMDD``; "" when it is not a real date from
    1900 to today."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        d = value
    else:
        s = _text(value)
        m = _DATE_PARTS.search(s)
        if m:
            a, b, c = m.groups()
            if len(a) == 4:
                y, mo, da = a, b, c
            elif len(c) == 4:
                y, mo, da = (c, a, b) if int(a) <= 12 else (c, b, a)
            else:
                return ""
        elif re.fullmatch(r"[0-9]{8}", s):
            y, mo, da = s[:4], s[4:6], s[6:]
        else:
            return ""
        try:
            d = dt.date(int(y), int(mo), int(da))
        except ValueError:
            return ""
    return d.strftime("%Y%m%d") if dt.date(1900, 1, 1) <= d <= dt.date.today() else ""


def meta_normalize(key: str, value: Any, *, country: str | None = None, default_region: str | None = None) -> str:
    """Meta's normalization of one field (before hashing); "" when nothing usable is left."""
    s = _text(value)
    if not s:
        return ""
    if key != "EXTERN_ID" and is_sha256(s):
        return s.lower()
    if key == "EMAIL":
        e = s.lower()
        return e if valid_email(e) else ""
    if key == "PHONE":
        digits = normalize_phone_digits(s, default_region)
        return digits if 7 <= len(digits) <= 15 else ""
    if key in ("FN", "LN"):
        return _strip_punct(s.lower(), spaces=False)
    if key == "CT":
        return _strip_punct(s.lower(), spaces=False)
    if key == "ST":
        return state_code(s) or _strip_punct(s.lower(), spaces=False)
    if key == "ZIP":
        z = re.sub(r"\s", "", s.lower()).lstrip("-").split("-")[0]
        if (country or "").lower() == "us" or re.fullmatch(r"\d{5,9}", z):
            return z[:5]
        return z
    if key == "COUNTRY":
        return country_code(s).lower()
    if key == "DOB":
        return normalize_dob(value)
    if key == "DOBY":
        if isinstance(value, dt.date) or not re.fullmatch(r"\d{4}", s):
            return normalize_dob(value)[:4]
        return s if 1900 <= int(s) <= dt.date.today().year else ""
    if key == "GEN":
        return {"f": "f", "female": "f", "woman": "f", "m": "m", "male": "m", "man": "m"}.get(s.lower(), "")
    if key == "EXTERN_ID":
        return _WS.sub("", s).lower()
    raise ValueError(f"unknown Meta schema key {key!r}; known: {', '.join(META_KEYS)}")


def meta_value(key: str, value: Any, *, country: str | None = None, default_region: str | None = None) -> str:
    """The value Meta receives for ``key``: normalized and SHA-256 hashed (EXTERN_ID as is; digests pass)."""
    s = _text(value)
    if key != "EXTERN_ID" and is_sha256(s):
        return s.lower()
    norm = meta_normalize(key, value, country=country, default_region=default_region)
    if not norm or key == "EXTERN_ID":
        return norm
    return sha256(norm)


_WS = re.compile(r"\s+")
# honorifics Google asks to leave out of given names, and generational/professional suffixes of family names
_NAME_PREFIXES = frozenset("mr mrs ms miss mx dr prof sir dame rev fr".split())
_NAME_SUFFIXES = frozenset("jr sr ii iii iv v phd md dds esq".split())


def google_normalize_email(value: Any) -> str:
    s = _WS.sub("", _text(value)).lower()
    if "@" not in s:
        return ""
    local, _, domain = s.rpartition("@")
    if not local or not domain:
        return ""
    if domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def google_normalize_phone(value: Any, default_region: str | None = None) -> str:
    return normalize_phone_e164(value, default_region)


def google_normalize_first_name(value: Any) -> str:
    words = _WS.sub(" ", _text(value).lower()).split(" ")
    while len(words) > 1 and words[0].rstrip(".") in _NAME_PREFIXES:
        words = words[1:]
    return " ".join(w for w in words if w)


def google_normalize_last_name(value: Any) -> str:
    words = _strip_punct(_text(value).lower().replace(",", " "), spaces=True).split(" ")
    while len(words) > 1 and words[-1] in _NAME_SUFFIXES:
        words = words[:-1]
    return " ".join(w for w in words if w)


def google_country_code(value: Any) -> str:
    return country_code(_text(value)) if _text(value) else ""


def google_postal_code(value: Any, country_code: str | None = None) -> str:
    s = _WS.sub(" ", _text(value))
    if (country_code or "").upper() == "US":
        digits = _NON_DIGIT.sub("", s)
        if len(digits) == 5:
            return digits
        if len(digits) == 9:
            return f"{digits[:5]}-{digits[5:]}"
        return ""
    return s


def _google_hash(value: Any, normalize: Any) -> str:
    s = _text(value)
    if is_sha256(s):
        return s.lower()
    norm = normalize(s)
    return sha256(norm) if norm else ""


def google_hashed_email(value: Any) -> str:
    return _google_hash(value, google_normalize_email)


def google_hashed_phone(value: Any, default_region: str | None = None) -> str:
    return _google_hash(value, lambda s: google_normalize_phone(s, default_region))


def google_hashed_first_name(value: Any) -> str:
    return _google_hash(value, google_normalize_first_name)


def google_hashed_last_name(value: Any) -> str:
    return _google_hash(value, google_normalize_last_name)


def google_user_data(fields: dict[str, Any], default_region: str | None = None) -> dict[str, Any]:
    """A row's Customer Match identifiers by Google's rules: ``email`` and ``phone`` digests (hex, "" when
    unusable) and ``address`` {first_name, last_name, country_code, postal_code} (names hashed, country and
    postal code not), or ``None`` unless all four are usable (Google matches an address only with all four).
    Fields read: ``email``, ``phone``, ``first_name``, ``last_name``, ``country_code``, ``postal_code``."""
    cc = google_country_code(fields.get("country_code"))
    fn, ln = google_hashed_first_name(fields.get("first_name")), google_hashed_last_name(fields.get("last_name"))
    pc = google_postal_code(fields.get("postal_code"), cc)
    return {
        "email": google_hashed_email(fields.get("email")),
        "phone": google_hashed_phone(fields.get("phone"), cc or default_region),
        "address": {"first_name": fn, "last_name": ln, "country_code": cc, "postal_code": pc}
        if fn and ln and cc and pc
        else None,
    }
