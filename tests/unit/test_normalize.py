"""One case per rule of outflow.normalize (pure functions, no warehouse)."""

import pytest

from outflow.normalize import clean_text, country_iso2, email, phone


@pytest.mark.parametrize(
    "raw",
    [
        "\tann@example.com ",  # tab
        "ann@example.com\u00a0",  # NBSP
        "ann\u200b@example.com",  # zero-width space inside
        "\ufeffann@example.com",  # byte-order mark
        "ann@exa\u200dmple.com\u2060",  # zero-width joiner and word joiner
        "ANN@Example.COM",
        "<ann@example.com>",
        "Ann Smith <ann@example.com>",
        '"Smith, Ann" <ann@example.com>',
        "mailto:ann@example.com",
        "MAILTO:ann@example.com?subject=hi",
        "ann@example.com.",
        "ann+newsletter@example.com",
    ],
)
def test_email_variants_normalize_to_one_canonical_form(raw):
    assert email(raw).canonical == "ann@example.com"


def test_email_keeps_the_address_and_folds_gmail():
    result = email("A.N.N+x@GoogleMail.com")
    assert result.address == "a.n.n+x@googlemail.com"
    assert result.canonical == "ann@gmail.com"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("\u200b ", "empty"),
        ("not an email", "no @"),
        ("a@b@c.com", "invalid"),
        ("ann@localhost", "invalid"),
    ],
)
def test_email_rejections_carry_a_reason(raw, reason):
    result = email(raw)
    assert result.canonical is None and reason in result.reason


def test_clean_text_collapses_inner_space_on_request():
    assert clean_text(" a\u00a0\u2003 b\u200b ", keep_inner_spaces=True) == "a b"
    assert clean_text(" a\u00a0b ") == "ab"
    assert clean_text("\u200b") is None


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+44 20 7946 0958", None),
        ("020 7946 0958", "GB"),
        ("0044 20 7946 0958", "US"),  # 00 prefix in a region whose own prefix is 011
        ("0044 (0)20 7946 0958", "GB"),
        ("mobile: +44 20 7946 0958", None),
        ("Mob. 020 7946 0958", "GB"),
        ("tel:+44-20-7946-0958", None),
        ("Tel +44 20 7946 0958", None),
        ("+44\u00a020\u200b7946 0958", None),
    ],
)
def test_phone_formats_and_labels_normalize_to_e164(raw, region):
    result = phone(raw, region)
    assert (result.e164, result.extension, result.reason) == ("+442079460958", None, None)


def test_phone_extensions_are_their_own_attribute():
    a, b = phone("+44 20 7946 0958 ext. 12", None), phone("+44 20 7946 0958 x 34", None)
    assert a.e164 == b.e164 == "+442079460958"
    assert (a.extension, b.extension) == ("12", "34")


def test_national_number_needs_its_region():
    assert phone("(415) 555-2671", "US").e164 == "+14155552671"
    assert phone("(415) 555-2671", "GB").e164 is None


@pytest.mark.parametrize(("raw", "reason"), [("n/a", "not a phone number"), ("12", "not a"), ("", "empty")])
def test_phone_rejections_carry_a_reason(raw, reason):
    result = phone(raw, "US")
    assert result.e164 is None and reason in result.reason


@pytest.mark.parametrize(
    ("raw", "iso2"),
    [
        ("Holland", "NL"),
        ("España", "ES"),
        ("espana", "ES"),
        ("Sverige", "SE"),
        ("Brasil", "BR"),
        ("India", "IN"),
        ("Deutschland", "DE"),
        ("UK", "GB"),
        ("U.S.A.", "US"),
        ("united states", "US"),
        (" fr ", "FR"),
        ("DEU", "DE"),
        ("Netherlands", "NL"),
    ],
)
def test_country_names_resolve_with_pycountry(raw, iso2):
    assert country_iso2(raw) == iso2


def test_unknown_country_is_none():
    assert country_iso2("Atlantis") is None
    assert country_iso2("  ") is None


def test_the_email_step_validates_once_per_cleaned_value_and_gives_each_raw_value_its_own_result():
    from outflow.phones import _emails

    raws = [
        "ann@example.com",
        "ANN@Example.COM",
        " <Ann@EXAMPLE.com> ",
        "mailto:ann@example.com",
        "Ann..b@Example.com",  # rejected: its reason is checked as typed
        "ann..b@example.com",
        "Ann(x)@Example.com",
        "ANN@LOCALHOST",
        "J\u00f6rg@Example.de",  # not ASCII: validated as typed
        "J\u00d6RG@example.de",
        "not an email",
        "",
    ]
    assert _emails(raws) == [email(r) for r in raws]
