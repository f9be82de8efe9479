"""Normalization + hashing against the vendors' own documented examples."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from activations.hashing import (
    google_country_code,
    google_hashed_email,
    google_hashed_first_name,
    google_hashed_last_name,
    google_hashed_phone,
    google_normalize_email,
    google_normalize_first_name,
    google_normalize_last_name,
    google_normalize_phone,
    google_postal_code,
    meta_normalize,
    meta_value,
    normalize_phone_e164,
    sha256,
)

# Meta, "Customer Information Parameters" (Conversions API): input -> normalized -> expected SHA-256
META_DOCUMENTED = [
    ("EMAIL", "John_Smith@gmail.com", "john_smith@gmail.com",
     "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    ("PHONE", "(650)555-1212", "16505551212",
     "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    ("FN", "Mary", "mary", "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ("FN", "정", "정", "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
    ("LN", "Valéry", "valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "raw", "norm", "digest"), META_DOCUMENTED)
def test_meta_documented_examples(key: str, raw: str, norm: str, digest: str) -> None:
    assert meta_normalize(key, raw, default_region="US") == norm
    assert meta_value(key, raw, default_region="US") == digest


@pytest.mark.parametrize(
    ("key", "raw", "norm", "country"),
    [
        ("EMAIL", "  Jane.Doe@Example.COM ", "jane.doe@example.com", None),  # Meta keeps gmail dots
        ("PHONE", "+44 20 7031 3000", "442070313000", None),
        ("PHONE", "0044 20 7031 3000", "442070313000", None),  # leading zeros go
        ("FN", "O'Brien-Smith", "obriensmith", None),
        ("CT", "Menlo Park", "menlopark", None),
        ("ST", "CA", "ca", None),
        ("ST", "Île-de-France", "îledefrance", None),
        ("ZIP", "94025-1234", "94025", "US"),
        ("ZIP", "SW1A 1AA", "sw1a1aa", "GB"),
        ("COUNTRY", "US", "us", None),
        ("COUNTRY", "United States", "us", None),  # a country name pycountry knows
        ("COUNTRY", "Atlantis", "", None),  # not a country: dropped, not guessed
        ("DOBY", dt.date(1984, 7, 2), "1984", None),
        ("DOBY", "1984-07-02", "1984", None),
        ("GEN", "Female", "f", None),
        ("GEN", "M", "m", None),
        ("GEN", "x", "", None),
        # Meta's documented normalized forms: phone "+1 (616) 954-78 88", UK zip "M1 1AE", US zip, state, country
        ("PHONE", "+1 (616) 954-78 88", "16169547888", None),
        ("ZIP", "M1 1AE", "m11ae", "GB"),
        ("ZIP", "94035", "94035", "US"),
        ("ST", "CA", "ca", "US"),
        ("COUNTRY", " us ", "us", None),
        # values Meta could not use are left blank, never hashed into a digest that matches nobody
        ("EMAIL", "not-an-email", "", None),
        ("EMAIL", "a@b", "", None),
        ("PHONE", "12-34", "", None),
        ("DOBY", "1850-01-01", "", None),
        ("DOBY", dt.date(2999, 1, 1), "", None),
    ],
)
def test_meta_rules(key: str, raw, norm: str, country: str | None) -> None:
    assert meta_normalize(key, raw, country=country) == norm


def test_meta_extern_id_not_hashed_and_digests_pass_through() -> None:
    assert meta_value("EXTERN_ID", " crm-42 ") == "crm-42"
    digest = sha256("someone@example.com")
    assert meta_value("EMAIL", digest.upper()) == digest
    assert meta_value("PHONE", digest) == digest
    assert meta_value("EMAIL", "  ") == ""


# Google's own examples.
# [DM] Data Manager API, "Format user data" (developers.google.com/data-manager/api/get-started/formatting):
#      lower case; trim leading, trailing and intermediate whitespace; gmail.com/googlemail.com: every dot before
#      the @ removed; phone "(800)555-0100" -> "+18005550100"; given name without a prefix such as "Mrs.", family
#      name without a suffix such as "Jr."; region code ISO-3166-1 alpha-2 and postal code NOT hashed; US postal
#      codes 5 digits or 5 digits + the 4-digit extension.
# [API] Google Ads API reference, OfflineUserAddressInfo: first name "Lowercase all characters; Remove any extra
#      spaces before, after, and in between"; last name "lower case only and no punctuation".
# [EX] The Google Ads API's Customer Match example (googleads/google-ads-python, add_customer_match_user_list.py):
#      records {dana@example.com, "+1 800 5550101"}, {alex.2@example.com, Alex, Quinn, US, 94045,
#      "+1 800 5550102"}, {charlie@example.com}; the dot of alex.2@example.com stays (not a Gmail address).
GOOGLE_EMAILS = [
    ("dana@example.com", "dana@example.com"),  # [EX]
    ("alex.2@example.com", "alex.2@example.com"),  # [EX] dots kept outside gmail.com / googlemail.com
    ("charlie@example.com", "charlie@example.com"),  # [EX]
    ("  Jane.Doe@GMAIL.com ", "janedoe@gmail.com"),  # [DM] lower case, trimmed, gmail dots removed
    ("jane.doe@googlemail.com", "janedoe@googlemail.com"),  # [DM] googlemail.com too
    ("j.a.n.e+news@gmail.com", "jane@gmail.com"),  # [DM] gmail: dots and the +tag go
    ("jane+news@example.com", "jane+news@example.com"),  # other domains keep both
    ("jane doe@example.com", "janedoe@example.com"),  # [DM] intermediate whitespace removed
    ("JOHN.SMITH@Example.org", "john.smith@example.org"),
    ("not-an-email", ""),
    ("@gmail.com", ""),
]
GOOGLE_PHONES = [
    ("(800)555-0100", "US", "+18005550100"),  # [DM]
    ("+1 800 5550101", None, "+18005550101"),  # [EX]
    ("+1 800 5550102", None, "+18005550102"),  # [EX]
    ("(212) 565-0000", "US", "+12125650000"),  # Google Ads API team's E.164 example
    ("020 7031 3000", "GB", "+442070313000"),  # idem, a national number with the person's country
    ("12", "US", ""),  # not a possible number: no identifier rather than a wrong one
]
GOOGLE_FIRST_NAMES = [("Alex", "alex"), ("  Mary  Ann ", "mary ann"), ("Mrs. Jane", "jane"), ("Dr Ana", "ana"),
                      ("Mrs", "mrs")]  # fmt: skip  # a lone "Mrs" is a name, not a prefix
GOOGLE_LAST_NAMES = [("Quinn", "quinn"), ("Smith Jr.", "smith"), ("O'Brien", "obrien"), ("King, III", "king"),
                     ("  Van  der Berg ", "van der berg")]  # fmt: skip


@pytest.mark.parametrize(("raw", "norm"), GOOGLE_EMAILS)
def test_google_email(raw: str, norm: str) -> None:
    assert google_normalize_email(raw) == norm
    assert google_hashed_email(raw) == (hashlib.sha256(norm.encode()).hexdigest() if norm else "")


@pytest.mark.parametrize(("raw", "region", "e164"), GOOGLE_PHONES)
def test_google_phone_e164(raw: str, region: str | None, e164: str) -> None:
    assert google_normalize_phone(raw, region) == normalize_phone_e164(raw, region) == e164
    assert google_hashed_phone(raw, region) == (hashlib.sha256(e164.encode()).hexdigest() if e164 else "")


@pytest.mark.parametrize(("raw", "norm"), GOOGLE_FIRST_NAMES)
def test_google_first_name(raw: str, norm: str) -> None:
    assert google_normalize_first_name(raw) == norm
    assert google_hashed_first_name(raw) == hashlib.sha256(norm.encode()).hexdigest()


@pytest.mark.parametrize(("raw", "norm"), GOOGLE_LAST_NAMES)
def test_google_last_name(raw: str, norm: str) -> None:
    assert google_normalize_last_name(raw) == norm
    assert google_hashed_last_name(raw) == hashlib.sha256(norm.encode()).hexdigest()


@pytest.mark.parametrize(
    ("country", "postal", "cc", "pc"),
    [
        ("US", "94045", "US", "94045"),  # [EX]
        (" us ", "94045-1234", "US", "94045-1234"),  # [DM] 5 digits + the 4-digit extension
        ("US", "940451234", "US", "94045-1234"),
        ("US", "9404", "US", ""),  # not a US ZIP code: left out, never guessed
        ("GB", " SW1A 1AA ", "GB", "SW1A 1AA"),  # other countries: as written, trimmed
        ("United States", "94045", "US", "94045"),  # a country name, mapped to its code
        ("Atlantis", "94045", "", "94045"),  # not a country: no country, so no address
    ],
)
def test_google_country_and_postal_code_not_hashed(country: str, postal: str, cc: str, pc: str) -> None:
    assert google_country_code(country) == cc
    assert google_postal_code(postal, cc) == pc


def test_google_documented_customer_match_record() -> None:
    """[EX] record 2 through the destination: four identifiers as Google's example builds them."""
    from activations.destinations.base import Record
    from activations.destinations.google_ads import GoogleAdsCustomerMatchDestination

    dest = object.__new__(GoogleAdsCustomerMatchDestination)
    dest.default_region = None
    fields = {"email": "alex.2@example.com", "first_name": "Alex", "last_name": "Quinn", "country_code": "US",
              "postal_code": "94045", "phone": "+1 800 5550102"}  # fmt: skip
    rec = Record("alex.2@example.com", "upsert", fields, "k")
    h = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    assert dest.identifiers(rec) == [
        {"hashedEmail": h("alex.2@example.com")},
        {"hashedPhoneNumber": h("+18005550102")},
        {
            "addressInfo": {
                "hashedFirstName": h("alex"),
                "hashedLastName": h("quinn"),
                "countryCode": "US",
                "postalCode": "94045",
            }
        },  # fmt: skip
    ]


def test_google_digests_pass_through() -> None:
    digest = sha256("someone@example.com")
    assert google_hashed_email(digest.upper()) == digest
    assert google_hashed_phone(digest) == digest
    assert google_hashed_last_name(digest) == digest
