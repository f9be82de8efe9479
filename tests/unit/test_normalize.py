"""One case per rule of outflow.normalize (pure functions, no warehouse)."""

import string

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
    assert _step_rows(raws) == [(r, *_email_row(r)) for r in raws]


def _email_row(raw):
    result = email(raw)
    return result.address, result.canonical, result.reason


def _step_rows(raws):
    """The email step's lookup rows for `raws` (`outflow.phones._emails`), as tuples."""
    import polars as pl

    from outflow.phones import _emails

    return list(_emails(pl.Series(raws, dtype=pl.String)).iter_rows())


# Texts as `email_text` leaves them: each takes the split check (one `@`, ASCII, no quotes or angle brackets, short)
# or the whole one, valid or rejected for a reason of its local part, its domain or its length.
CHECKED_TEXTS = [
    "ann@example.com",
    "Ann.Smith@Example.COM",
    "ann+news@example.com",
    "INFO@Example.com",  # a role name email-validator lower-cases itself
    "Postmaster@example.com",
    "ann..b@example.com",  # local part rejected
    ".ann@example.com",
    "ann.@example.com",
    "Ann(x)@Example.com",
    "@example.com",  # empty local part
    "a" * 64 + "@example.com",  # the longest local part
    "a" * 65 + "@example.com",  # one too long
    "ann@localhost",  # domain rejected
    "ann@example",
    "ann@-example.com",
    "ann@exa_mple.com",
    "ann@example..com",
    "ann@.example.com",
    "ann@",
    "ann@[192.0.2.1]",  # a domain literal, not allowed
    "ann@xn--bcher-kva.example",  # IDNA: a Unicode domain written in ASCII
    "ann@xn--zz.example",  # an invalid IDNA label
    "ann..b@localhost",  # both parts rejected: the local part's reason comes first
    "l" * 64 + "@" + ".".join(["b" * 60] * 3) + ".com",  # too long as a whole: checked whole
    "n" * 64 + "@" + ".".join(["b" * 63] * 3) + ".com",  # rejected: too long
    "m" * 60 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 20 + ".com",
    "jörg@example.de",  # not ASCII: checked whole
    "ann@bücher.example",
    '"ann b"@example.com',  # quoted
    "a@b@example.com",  # two @
]


def test_the_email_checker_checks_each_part_once_with_the_same_result_as_the_whole_check():
    from outflow.normalize import EmailChecker, email_checked

    checker = EmailChecker()
    texts = CHECKED_TEXTS + [t.upper() for t in CHECKED_TEXTS] + ["bob@example.com", "bob@localhost"]
    assert [checker(t) for t in texts] == [email_checked(t) for t in texts]
    assert {"ann..b", "Ann(x)", "a" * 65} <= checker.locals.keys()  # the split check ran...
    assert checker.locals["ann..b"] is not None and checker.locals["a" * 65] is None
    assert isinstance(checker.domains["localhost"], str)  # ...once per part (a domain's rejection is kept too)
    assert not {"jörg", "l" * 64, "m" * 60} & checker.locals.keys()  # and not on the others
    assert not {"ann", "bob", "ann.smith", "a" * 64} & checker.locals.keys()  # dot-atoms: valid without a call


PHONE_PAIRS = [
    (raw, region)
    for region in ("US", "GB", "DE", None)
    for raw in [
        "(212) 206-8963",
        "212.206.8963",
        "212-206-8963",
        "2122068963",
        "+1 212 206 8963",
        "+12122068963",
        "001 212 206 8963",
        "(001) 212 206 8963",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "0044 20 7946 0958",
        "020 7946 0958",
        "(020) 7946-0958",
        "+49 151 10040638",
        "015110040638",
        "+44 20 7946 0958 ext. 12",
        "+44 20 7946 0958 x 34",
        "1-800-FLOWERS",
        "mobile: 020 7946 0958",
        "12",  # two digits: a number to phonenumbers, where `1 2` and `+12` are not
        "1 2",
        "+12",
        "123",
        "1 2 3",
        "+999 123 456",  # no such country code
        "+1 212 206 896",  # too short to be valid
        "(212) 206-89631234567890",
        "n/a",
        "",
        "+",
        "()",
        "١٢١٢٢٠٦٨٩٦٣",  # Arabic-Indic digits: parsed as typed
    ]
]


def test_the_phone_checker_parses_each_number_once_with_the_same_result_as_phone():
    from outflow.normalize import PhoneChecker

    checker = PhoneChecker()
    assert [checker(r, g) for r, g in PHONE_PAIRS] == [phone(r, g) for r, g in PHONE_PAIRS]
    assert ("2122068963", "US") in checker.parsed and ("+442079460958", None) in checker.parsed
    assert len(checker.parsed) < len(PHONE_PAIRS) * 2 / 3  # one parse for the spellings of one number


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("  Ann@Example.com  ", "Ann@Example.com"),  # as typed but its outer spaces
        ("o'brien@example.com", "o'brien@example.com"),
        ("'ann@example.com'", "ann@example.com"),  # the rest is cleaned
        ("ann@example.com.", "ann@example.com"),
        ("ann @example.com", "ann@example.com"),
        ("ann@example.com\x1f", "ann@example.com"),  # a control character Python counts as whitespace
        ("ann@example.com\x7f", "ann@example.com\x7f"),  # one it does not: left for the validator to reject
        ("Mailto:ann@example.com", "ann@example.com"),
    ],
)
def test_email_text_keeps_a_plain_value_as_typed_and_cleans_the_others(raw, text):
    from outflow.normalize import email_text

    assert email_text(raw) == text


def _random_locals(rng, n):
    """Local parts of every kind: mostly atext and dots (dot-atoms and near misses: leading, trailing or double
    dots, 64 characters or more), some with characters a dot-atom cannot hold (space, quote, parentheses,
    backslash, `@`, non-ASCII, controls)."""
    atext = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
    odd = ' "(),:;<>@[\\]\x7f\tλéü\u200b'
    out = []
    for i in range(n):
        alphabet = atext + "." * 8 + (odd if i % 4 == 0 else "")
        length = rng.choice([0, 1, 2, 5, 10, 20, 40, 63, 64, 65, 70]) if i % 10 == 0 else rng.randint(1, 25)
        out.append("".join(rng.choice(alphabet) for _ in range(length)))
    return out


def test_a_dot_atom_local_part_is_valid_without_a_call_as_email_validator_says():
    import random

    from email_validator import EmailNotValidError, validate_email

    from outflow.normalize import EmailChecker, _no_domain

    def validated(local):
        try:
            validate_email(local + "@", check_deliverability=False)
        except EmailNotValidError as e:
            return None if str(e) == _no_domain() else str(e)
        raise AssertionError(local)

    locals_ = _random_locals(random.Random(5), 20_000) + [
        "a",
        "a.b",
        "a" * 64,
        "a" * 65,
        "!#$%&'*+-/=?^_`.{|}~",
        "user+mailbox/department=shipping",
        ".a",
        "a.",
        "a..b",
        "",
        'a"b',
        "a b",
        "a\\b",
        "jörg",
        "INFO",
    ]
    checker = EmailChecker()
    assert [checker._local(x) for x in locals_] == [validated(x) for x in locals_]
    assert len(checker.locals) < len(set(locals_)) / 2  # most were dot-atoms, taken as valid without a call


@pytest.fixture(scope="module")
def hard_values(tmp_path_factory):
    """Every raw email, phone and country of a small dataset of the generator's hard mode."""
    import polars as pl

    from outflow.generate import generate

    out = tmp_path_factory.mktemp("hard")
    generate(1500, 11, out, hard=True)
    frames = [pl.read_parquet(f) for f in sorted(out.glob("raw/**/*.parquet"))]
    return {
        column: sorted({v for f in frames if column in f.columns for v in f.get_column(column).drop_nulls()})
        for column in ("email", "phone", "country")
    }


def test_the_email_step_gives_each_raw_value_what_email_gives(hard_values):
    """The step's rows (most values of the usual kind normalized all at once, the others one at a time) equal
    `email` of each value: the generator's hard mode, the checker's texts in several spellings, random addresses."""
    import random

    import polars as pl

    from outflow.normalize import EmailChecker, plain_emails

    rng = random.Random(3)
    domains = [
        "example.com",
        "Example.COM",
        "gmail.com",
        "GoogleMail.com",
        "localhost",
        "exa_mple.com",
        "xn--bcher-kva.example",
        "bücher.example",
        "-x.com",
        "x..com",
        "",
        ".".join(["b" * 60] * 3) + ".com",
        "[192.0.2.1]",
    ]
    addresses = [f"{local}@{rng.choice(domains)}" for local in _random_locals(rng, 5_000)]
    spellings = [
        form
        for text in CHECKED_TEXTS
        for form in (text, text.upper(), f" {text} ", f"<{text}>", f"Ann <{text}>", f"mailto:{text}", f"{text}.")
    ]
    raws = hard_values["email"] + spellings + addresses + ["", " ", "\u200b", "no at sign", "a@b@c.com", "@"]
    assert _step_rows(raws) == [(r, *_email_row(r)) for r in raws]
    plain = plain_emails(pl.Series(raws), EmailChecker()).get_column("address").is_not_null().sum()
    assert len(raws) / 4 < plain < len(raws)  # both paths taken: all at once and one at a time


def _phone_texts():
    """`+` and digits of every kind: libphonenumber's example number of each region, non-geographic code and number
    type (as written, with a national prefix or a 0 after the country code, cut short and made long), and random
    digits after every country code, and after unknown ones."""
    import random

    import phonenumbers

    examples = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in range(12)
    ] + [
        phonenumbers.example_number_for_non_geo_entity(code)
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    texts = set()
    for n in filter(None, examples):
        national = phonenumbers.national_significant_number(n)
        prefix = phonenumbers.ndd_prefix_for_region(phonenumbers.region_code_for_number(n) or "ZZ", True) or ""
        for digits in (national, prefix + national, "0" + national, national[:-2], national + "12", "1" + national):
            texts.add(f"+{n.country_code}{digits}")
    rng = random.Random(9)
    for code in [*sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), 0, 28, 999]:
        for _ in range(40):
            texts.add(f"+{code}" + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 19))))
    return sorted(texts)


def test_an_evident_international_number_is_built_as_parse_reads_it(hard_values):
    import phonenumbers

    from outflow.normalize import _international

    texts = _phone_texts() + ["+" + "".join(filter(str.isdigit, p)) for p in hard_values["phone"] if "+" in p]

    def parsed(text):
        try:
            return phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            return "rejected"

    built = [(t, _international(t)) for t in texts]
    assert [(t, n) for t, n in built if n is not None] == [(t, parsed(t)) for t, n in built if n is not None]
    assert len(texts) / 2 < sum(n is not None for _, n in built) < len(texts)  # most evident, some left to parse


def test_validity_checked_in_the_main_region_first_is_phonenumbers_validity(hard_values):
    import phonenumbers

    from outflow.normalize import _is_valid

    numbers = []
    for text in _phone_texts() + hard_values["phone"]:
        for region in ("US", "GB", "AU", "IT", "CA"):
            try:
                numbers.append(phonenumbers.parse(text, region))
            except phonenumbers.NumberParseException:
                pass
    assert [_is_valid(n) for n in numbers] == [phonenumbers.is_valid_number(n) for n in numbers]
    assert {n.country_code for n in numbers if phonenumbers.is_valid_number(n)} >= {1, 44, 61, 39}


def test_the_phone_step_gives_each_pair_what_phone_gives(hard_values):
    """The step's rows (pairs written plainly keyed all at once, the others one at a time) equal `phone` of each
    pair: the generator's hard mode and the checker's pairs, in several regions."""
    import polars as pl

    from outflow.normalize import plain_phone_keys
    from outflow.phones import _phones

    spellings = [f" {r}" for r, _ in PHONE_PAIRS] + ["(00 44) 20 7946 0958", "00 1", "+ 44 20 7946 0958", "+44+20"]
    raws = hard_values["phone"] + [r for r, _ in PHONE_PAIRS] + spellings + ["1" * 101, " " * 120 + "2122068963"]
    pairs = [(r, g) for r in raws for g in ("US", "GB", "DE", None)]
    raw, region = pl.Series([r for r, _ in pairs], dtype=pl.String), pl.Series([g for _, g in pairs], dtype=pl.String)
    got = _phones(raw, region)
    assert list(got.iter_rows()) == [tuple(vars(phone(r, g)).values()) for r, g in pairs]
    keys = plain_phone_keys(raw, region).get_column("number")
    assert len(pairs) / 2 < keys.is_not_null().sum() < len(pairs)  # both paths taken
