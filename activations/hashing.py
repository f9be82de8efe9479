"""Normalization and SHA-256 hashing of personal data for ad platforms, one place for every rule.

Meta (Custom Audiences / Conversions API customer information parameters):
- EMAIL: trim, lower case.  PHONE: digits only with country code, no leading zeros.
- FN, LN: lower case, no punctuation (UTF-8 kept).  CT: lower case, no punctuation, no spaces.
- ST: lower case, no punctuation, no spaces (US: 2-letter code).  ZIP: lower case, no spaces or dashes;
  US: the first 5 digits.  COUNTRY: ISO 3166-1 alpha-2, lower case.  DOBY: 4-digit year.  GEN: ``f``/``m``.
- EXTERN_ID: sent as is (trimmed), never hashed.
Google Ads Customer Match (UserIdentifier):
- email: trim, lower case, and for gmail.com / googlemail.com the dots of the local part removed;
- phone: E.164 (``+`` and up to 15 digits) before hashing;
- address: first and last name trimmed and lower-cased then hashed; country code and postal code NOT hashed.
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
        return s.lower()
    if key == "PHONE":
        return normalize_phone_digits(s, default_region or country)
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
        if isinstance(value, dt.date):
            return f"{value.year:04d}"
        m = re.match(r"^(\d{4})", s)
        return m.group(1) if m else ""
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


def google_normalize_email(value: Any) -> str:
    s = _text(value).lower()
    if "@" not in s:
        return ""
    local, _, domain = s.rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def google_hashed_email(value: Any) -> str:
    s = _text(value)
    if is_sha256(s):
        return s.lower()
    norm = google_normalize_email(s)
    return sha256(norm) if norm else ""


def google_hashed_phone(value: Any, default_region: str | None = None) -> str:
    s = _text(value)
    if is_sha256(s):
        return s.lower()
    e164 = normalize_phone_e164(s, default_region)
    return sha256(e164) if e164 else ""


def google_hashed_name(value: Any) -> str:
    s = _text(value)
    if is_sha256(s):
        return s.lower()
    norm = s.lower()
    return sha256(norm) if norm else ""
