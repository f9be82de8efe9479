"""Normalization + hashing against the vendors' own documented examples."""

from __future__ import annotations

import datetime as dt

import pytest

from activations.hashing import (
    google_hashed_email,
    google_hashed_name,
    google_hashed_phone,
    google_normalize_email,
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
        ("COUNTRY", "United States", "", None),  # not an ISO alpha-2 code: dropped, not guessed
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


def test_google_rules() -> None:
    # Google Ads API: E.164 before hashing (the Google Ads API team's examples: +12125650000, +442070313000)
    assert normalize_phone_e164("(212) 565-0000", "US") == "+12125650000"
    assert normalize_phone_e164("020 7031 3000", "GB") == "+442070313000"
    assert google_hashed_phone("+1 212 565 0000") == sha256("+12125650000")
    # gmail.com / googlemail.com: dots of the local part removed; other domains keep them
    assert google_normalize_email(" Jane.Doe@GMAIL.com ") == "janedoe@gmail.com"
    assert google_normalize_email("jane.doe@googlemail.com") == "janedoe@googlemail.com"
    assert google_normalize_email("jane.doe@example.com") == "jane.doe@example.com"
    assert google_hashed_email("Jane.Doe@gmail.com") == sha256("janedoe@gmail.com")
    assert google_hashed_name("  Mary ") == sha256("mary")
    assert google_hashed_email("not-an-email") == ""
