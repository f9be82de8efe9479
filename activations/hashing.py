"""Normalization and SHA-256 hashing of personal data for ad platforms, one place for every rule.

Meta (Custom Audiences / Conversions API customer information parameters):
- EMAIL: trim, lower case.  PHONE: digits only with country code, no leading zeros (7 to 15 digits).
- FN, LN: lower case, no punctuation (UTF-8 kept).  CT: lower case, no punctuation, no spaces.
- ST: lower case, no punctuation, no spaces (US: 2-letter code).  ZIP: lower case, no spaces or dashes;
  US: the first 5 digits; UK: area, district and sector (``M1 1AE`` -> ``m11ae``).  COUNTRY: ISO 3166-1
  alpha-2, lower case.  DOBY: 4-digit year, 1900 to this year.  GEN: ``f``/``m``.
- A value that cannot be normalized (an EMAIL without ``@``, a PHONE of too few digits, an unknown GEN) is
  left blank, as Meta asks for unknown keys; a row left with no identifier is set aside, never sent.
- EXTERN_ID: sent as is (trimmed), never hashed.
Google Ads Customer Match (UserIdentifier; Google's "Format user data" guide of the Data Manager API and the
Google Ads API field reference of OfflineUserAddressInfo):
- email: lower case; leading, trailing AND intermediate whitespace removed; for gmail.com / googlemail.com every
  dot before the ``@`` removed (plus-tags are kept: Google does not ask to drop them);
- phone: E.164, ``+`` and the country code, digits only (``(800)555-0100`` -> ``+18005550100``);
- first name: lower case, spaces trimmed and runs of inner spaces collapsed, no prefix such as ``Mrs.``;
- last name: lower case, trimmed, no punctuation, no suffix such as ``Jr.``;
- country code: ISO-3166-1 alpha-2, NOT hashed; postal code: trimmed, NOT hashed; US: 5 digits, or 5 digits and
  the 4-digit extension (``94045-1234``).
A value that is already a SHA-256 digest (64 hex characters) passes through (lower-cased), never re-hashed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any

import phonenumbers

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
_HEX64 = re.compile(SHA256_PATTERN)
_NON_DIGIT = re.compile(r"\D+")
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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
    """Country code + national number, digits only (Meta). Unparseable: digits without leading zeros."""
    e164 = normalize_phone_e164(value, default_region)
    if e164:
        return e164[1:]
    return _NON_DIGIT.sub("", _text(value)).lstrip("0")


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


def meta_normalize(key: str, value: Any, *, country: str | None = None, default_region: str | None = None) -> str:
    """Meta's normalization of one field (before hashing); "" when nothing usable is left."""
    s = _text(value)
    if not s:
        return ""
    if key == "EMAIL":
        e = s.lower()
        return e if _EMAIL_SHAPE.match(e) else ""
    if key == "PHONE":
        digits = normalize_phone_digits(s, default_region or country)
        return digits if 7 <= len(digits) <= 15 else ""
    if key in ("FN", "LN"):
        return _strip_punct(s.lower(), spaces=True)
    if key in ("CT", "ST"):
        return _strip_punct(s.lower(), spaces=False)
    if key == "ZIP":
        z = re.sub(r"[\s\-]", "", s.lower())
        if (country or "").lower() == "us" or re.fullmatch(r"\d{5}(\d{4})?", z):
            return z[:5]
        return z
    if key == "COUNTRY":
        c = s.lower()
        return c if re.fullmatch(r"[a-z]{2}", c) else ""
    if key == "DOBY":
        year = value.year if isinstance(value, dt.date) else None
        if year is None:
            m = re.match(r"^(\d{4})", s)
            year = int(m.group(1)) if m else 0
        return f"{year:04d}" if 1900 <= year <= dt.date.today().year else ""
    if key == "GEN":
        g = s.lower()[:1]
        return g if g in ("f", "m") else ""
    if key == "EXTERN_ID":
        return s
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
        local = local.replace(".", "")
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
    c = _text(value).upper()
    return c if re.fullmatch(r"[A-Z]{2}", c) else ""


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
