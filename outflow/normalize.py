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
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import phonenumbers
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


def email_text(raw: str | None) -> str | Email:
    """The cheap first part of `email`: the address as typed once unwrapped and cleaned, or its rejection."""
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
    text = clean_text(raw, keep_inner_spaces=True)
    if text is None:
        return Phone(None, None, "empty")
    text = _LABEL_RE.sub("", text, count=1).strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    digits_start = text.lstrip("( ")
    if digits_start.startswith("00"):  # the international prefix of most of the world
        text = "+" + digits_start[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as e:
        return Phone(None, None, f"not a phone number: {e}")
    if not phonenumbers.is_valid_number(number):
        where = f"for region {region}" if region and not text.startswith("+") else "for its country code"
        return Phone(None, None, f"not a valid number {where}")
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), number.extension, None)


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
