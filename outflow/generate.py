"""Deterministic synthetic data that fills the raw contract, with its ground truth.

The data is messy the way real data is: mixed case and whitespace in emails, gmail dots and plus-tags,
phones in many formats, households sharing a device, `info@` addresses shared by a company, duplicate CRM
records, junk values, and late-arriving events. The ground truth (the true person behind every identifier,
each person's propensity and conversion label) is written beside the raw tables so tests can measure quality.

Everything is vectorised (numpy + polars) and written in chunks of people, so a million people with tens of
millions of events fit comfortably in memory. The same seed and as-of date always give the same files.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from outflow.generate_hard import hard_records

log = logging.getLogger(__name__)

DEFAULT_AS_OF = date(2026, 11, 1)
CHUNK_PEOPLE = 100_000
HISTORY_DAYS = 365
LABEL_WINDOW_DAYS = 30

FIRST_F = "Anna Maria Emma Olivia Sophie Laura Julia Sarah Chloe Grace Mia Lea Nora Ella Ava Zoe Ines Clara Hanna Lucy".split()
FIRST_M = (
    "James Liam Noah Oliver Lucas Max Paul Leon Felix Henry Jack Tom Adam Louis Hugo Ben Jonas Luca Theo Sam".split()
)
LAST = (
    "Smith Jones Brown Taylor Wilson Davies Evans Miller Muller Schmidt Martin Bernard Dubois Garcia Lopez "
    "Walker Wright Clarke Hall Young King Scott Green Baker Adams Hill Moore White Fischer Weber Meyer Wagner "
    "Becker Durand Moreau Laurent Simon Petit Robinson Murphy"
).split()
WORD_A = "Blue North Bright Silver Rapid Clear Prime Open Deep Swift Solid True Next Bold Green".split()
WORD_B = "Peak Labs Works Systems Data Cloud Logic Forge Wave Point Stack Bridge Field Grid Loop".split()
INDUSTRIES = ["software", "finance", "retail", "healthcare", "manufacturing", "education", "media"]
INDUSTRY_FIT = np.array([1.0, 0.6, 0.3, 0.2, 0.0, -0.3, -0.1])
TITLES = [
    ("Intern", -1.5), ("Analyst", -0.5), ("Engineer", 0.0), ("Marketing Manager", 0.5), ("Product Manager", 0.4),
    ("Head of Growth", 1.0), ("Director of Marketing", 1.2), ("VP Marketing", 1.5), ("CTO", 1.3), ("CEO", 1.1),
]  # fmt: skip
# country code, country name as CRM users type it, weight, currency, E.164 prefix, cities
COUNTRIES = [
    (
        "US",
        ["United States", "US", "USA", "u.s."],
        0.40,
        "USD",
        "1",
        ["New York", "Austin", "Seattle", "Boston"],
    ),
    ("GB", ["United Kingdom", "GB", "UK", "england"], 0.20, "GBP", "44", ["London", "Leeds", "Bristol"]),
    ("DE", ["Germany", "DE", "Deutschland"], 0.15, "EUR", "49", ["Berlin", "Munich", "Hamburg"]),
    ("FR", ["France", "FR", "france "], 0.10, "EUR", "33", ["Paris", "Lyon", "Lille"]),
    ("CA", ["Canada", "CA"], 0.10, "CAD", "1", ["Toronto", "Vancouver"]),
    ("AU", ["Australia", "AU"], 0.05, "AUD", "61", ["Sydney", "Melbourne"]),
]
US_AREAS = ["212", "310", "415", "617", "312", "206", "512", "303"]
CA_AREAS = ["416", "604", "514"]
REGION_OF = {"US": "NA", "CA": "NA", "GB": "EU", "DE": "EU", "FR": "EU", "AU": "APAC"}
PERSONAL_DOMAINS = ["gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "icloud.com"]
ROLE_LOCALS = ["info", "sales", "contact", "hello"]
JUNK_EMAILS = ["test@test.com", "none@none.com", "noemail@example.com"]
JUNK_PHONES = ["0000000000", "0000", "1234567890"]
PAGES = ["/", "/pricing", "/product", "/blog/warehouse-native", "/docs", "/demo", "/customers", "/careers"]
PAGE_P = np.array([0.22, 0.16, 0.16, 0.12, 0.12, 0.06, 0.1, 0.06])
CAMPAIGNS = [f"cmp_{i:03d}" for i in range(24)]

TRUTH_TABLES = ("people", "identifiers")
TRUTH_ID_COLUMNS = ["identifier_type", "identifier_value", "person_key"]


@dataclass(frozen=True)
class GenerateResult:
    out_dir: Path
    people: int
    rows: dict[str, int]
    as_of: date


def _s(values: np.ndarray | list) -> pl.Series:
    """A string Series from a numpy object array (None stays null)."""
    return pl.Series(values.tolist() if isinstance(values, np.ndarray) else values, dtype=pl.String)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ts(as_of: datetime, days_ago: np.ndarray) -> pl.Series:
    """Timestamps `days_ago` (float days) before as_of, to the second."""
    seconds = np.round(np.asarray(days_ago, dtype=np.float64) * 86400.0).astype(np.int64)
    base = np.datetime64(as_of, "s")
    return pl.Series((base - seconds.astype("timedelta64[s]")).astype("datetime64[us]"))


def _pick(rng: np.random.Generator, values: list[str], n: int, p: np.ndarray | None = None) -> pl.Series:
    return _s(np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)])


def _people(rng: np.random.Generator, start: int, n: int, total: int) -> pl.DataFrame:
    idx = np.arange(start, start + n)
    weights = np.array([c[2] for c in COUNTRIES])
    country_i = rng.choice(len(COUNTRIES), size=n, p=weights / weights.sum())
    gender_f = rng.random(n) < 0.5
    first = np.where(
        gender_f,
        np.asarray(FIRST_F, dtype=object)[rng.integers(0, len(FIRST_F), n)],
        np.asarray(FIRST_M, dtype=object)[rng.integers(0, len(FIRST_M), n)],
    )
    last = np.asarray(LAST, dtype=object)[rng.integers(0, len(LAST), n)]
    n_companies = max(8, total // 25)
    company_i = rng.integers(0, n_companies, n)
    title_i = rng.choice(len(TITLES), size=n, p=np.array([4, 14, 16, 14, 10, 8, 8, 6, 10, 10]) / 100)
    seniority = np.array([t[1] for t in TITLES])[title_i]
    # company traits are a pure function of the company index, so every chunk agrees on them
    industry_i = (company_i * 2654435761 % 2**31) % len(INDUSTRIES)
    employees = (10 ** (1 + (company_i * 40503 % 997) / 997 * 3.5)).astype(np.int64)
    anonymous = rng.random(n) < 0.18
    logit = -2.6 + 0.9 * seniority + 0.35 * np.log10(employees) + 0.8 * INDUSTRY_FIT[industry_i] + rng.normal(0, 0.7, n)
    propensity = _sigmoid(logit)
    converted = (rng.random(n) < propensity) & ~anonymous
    personal = rng.random(n) < 0.55
    personal_domain = np.asarray(PERSONAL_DOMAINS, dtype=object)[rng.integers(0, len(PERSONAL_DOMAINS), n)]
    df = pl.DataFrame(
        {
            "i": idx,
            "person_key": [f"P{i:08d}" for i in idx],
            "country": np.asarray([c[0] for c in COUNTRIES], dtype=object)[country_i],
            "country_i": country_i,
            "first_name": first,
            "last_name": last,
            "gender": np.where(gender_f, "f", "m"),
            "company_i": company_i,
            "industry_i": industry_i,
            "employees": employees,
            "title_i": title_i,
            "propensity": propensity,
            "converted": converted,
            "anonymous": anonymous,
            "personal": personal,
            "personal_domain": personal_domain,
            "has_phone": rng.random(n) < 0.75,
            "registered": rng.random(n) < 0.65,
            "birth_days": rng.integers(20 * 365, 70 * 365, n),
        }
    )
    df = df.with_columns(
        company=pl.format(
            "{} {} {}",
            pl.col("company_i").map_elements(lambda c: WORD_A[c % len(WORD_A)], return_dtype=pl.String),
            pl.col("company_i").map_elements(
                lambda c: WORD_B[(c // len(WORD_A)) % len(WORD_B)], return_dtype=pl.String
            ),
            pl.col("company_i"),
        ),
        domain=pl.format(
            "{}{}{}.com",
            pl.col("company_i").map_elements(lambda c: WORD_A[c % len(WORD_A)].lower(), return_dtype=pl.String),
            pl.col("company_i").map_elements(
                lambda c: WORD_B[(c // len(WORD_A)) % len(WORD_B)].lower(), return_dtype=pl.String
            ),
            pl.col("company_i"),
        ),
    )
    local = pl.format("{}.{}{}", pl.col("first_name").str.to_lowercase(), pl.col("last_name").str.to_lowercase(), "i")
    df = df.with_columns(
        email_local=local,
        email_domain=pl.when(pl.col("personal")).then(pl.col("personal_domain")).otherwise(pl.col("domain")),
    ).with_columns(
        email=pl.format("{}@{}", "email_local", "email_domain"),
        email_canonical=pl.format(
            "{}@{}",
            pl.when(pl.col("email_domain") == "gmail.com")
            .then(pl.col("email_local").str.replace_all(".", "", literal=True))
            .otherwise(pl.col("email_local")),
            "email_domain",
        ),
        user_id=pl.when(pl.col("registered") & ~pl.col("anonymous")).then(pl.format("u{}", pl.col("i") + 100_000)),
        n_cookies=pl.Series(np.where(anonymous, 1, np.minimum(1 + rng.poisson(0.6, n), 4))),
    )
    return df.with_columns(_phones(df, rng))


def _phones(df: pl.DataFrame, rng: np.random.Generator) -> list[pl.Expr]:
    """A unique phone per person: its E.164 form, and the raw form a CRM user typed."""
    i = df["i"].to_numpy()
    n = len(i)
    cc = df["country"].to_numpy()
    line = i % 10000
    exchange = 200 + (i // 10000) % 800
    sub8 = 10_000_000 + i % 90_000_000
    us_area = np.asarray(US_AREAS, dtype=object)[(i // 8_000_000) % len(US_AREAS)]
    ca_area = np.asarray(CA_AREAS, dtype=object)[(i // 8_000_000) % len(CA_AREAS)]
    nsn = np.empty(n, dtype=object)
    e164 = np.empty(n, dtype=object)
    raw = np.empty(n, dtype=object)
    style = rng.integers(0, 5, n)
    for k in range(n):  # string formatting per person; cheap next to the event tables
        c = cc[k]
        if c in ("US", "CA"):
            area = us_area[k] if c == "US" else ca_area[k]
            digits = f"{area}{exchange[k]:03d}{line[k]:04d}"
            nsn[k] = digits
            e164[k] = f"+1{digits}"
            raw[k] = (
                f"({area}) {exchange[k]:03d}-{line[k]:04d}",
                f"{area}.{exchange[k]:03d}.{line[k]:04d}",
                f"+1 {area} {exchange[k]:03d} {line[k]:04d}",
                f"1-{area}-{exchange[k]:03d}-{line[k]:04d}",
                digits,
            )[style[k]]
        else:
            prefix = {"GB": ("44", "7"), "DE": ("49", "151"), "FR": ("33", "6"), "AU": ("61", "4")}[c]
            body = f"{prefix[1]}{sub8[k]:08d}" if c != "GB" else f"7{(400_000_000 + i[k]) % 1_000_000_000:09d}"
            nsn[k] = body
            e164[k] = f"+{prefix[0]}{body}"
            raw[k] = (
                f"+{prefix[0]} {body[:4]} {body[4:]}",
                f"0{body[:4]} {body[4:]}",
                f"+{prefix[0]}{body}",
                f"00{prefix[0]} {body}" if c != "AU" else f"+{prefix[0]} {body}",
                f"0{body}",
            )[style[k]]
    return [_s(e164).alias("phone_e164"), _s(raw).alias("phone_raw")]


def _email_variant(df: pl.DataFrame, rng: np.random.Generator, messy: float = 0.5) -> pl.Series:
    """The person's email as some source captured it: case, spacing, gmail dots and plus-tags vary."""
    n = df.height
    m = lambda p: pl.Series(rng.random(n) < p * messy)  # noqa: E731
    is_gmail = pl.col("email_domain") == "gmail.com"
    local = (
        pl.when(m(0.5) & is_gmail)
        .then(pl.col("email_local").str.replace_all(".", "", literal=True))
        .otherwise(pl.col("email_local"))
    )
    local = pl.when(m(0.3)).then(pl.format("{}+{}", local, pl.lit("news"))).otherwise(local)
    domain = pl.when(m(0.2) & is_gmail).then(pl.lit("googlemail.com")).otherwise(pl.col("email_domain"))
    addr = pl.format("{}@{}", local, domain)
    addr = pl.when(m(0.3)).then(addr.str.to_uppercase()).when(m(0.3)).then(addr.str.to_titlecase()).otherwise(addr)
    addr = pl.when(m(0.3)).then(pl.format("  {} ", addr)).otherwise(addr)
    return df.select(addr.alias("email")).to_series()


def _crm(df: pl.DataFrame, rng: np.random.Generator, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CRM contacts (with duplicates, role and junk addresses) and the shared identifiers they create."""
    known = df.filter(~pl.col("anonymous"))
    has = known.filter(pl.Series(rng.random(known.height) < 0.6))
    n = has.height
    created_days = rng.uniform(30, HISTORY_DAYS, n)
    country_name = [
        COUNTRIES[c][1][k % len(COUNTRIES[c][1])] for c, k in zip(has["country_i"], rng.integers(0, 4, n), strict=False)
    ]
    cities = [
        COUNTRIES[c][5][k % len(COUNTRIES[c][5])] for c, k in zip(has["country_i"], rng.integers(0, 4, n), strict=False)
    ]
    role = pl.Series(rng.random(n) < 0.04) & ~has["personal"]
    email = _email_variant(has, rng)
    email = pl.select(
        pl.when(role)
        .then(
            pl.format(
                "{}@{}",
                pl.Series(np.asarray(ROLE_LOCALS, dtype=object)[rng.integers(0, 4, n)]),
                has["domain"],
            )
        )
        .otherwise(email)
    ).to_series()
    junk_email = rng.random(n) < 0.01
    email = pl.select(
        pl.when(pl.Series(junk_email)).then(pl.Series(np.asarray(JUNK_EMAILS, dtype=object)[rng.integers(0, 3, n)]))
        .otherwise(email)
    ).to_series()  # fmt: skip
    junk_phone = rng.random(n) < 0.01
    phone = pl.select(
        pl.when(pl.Series(junk_phone)).then(pl.Series(np.asarray(JUNK_PHONES, dtype=object)[rng.integers(0, 3, n)]))
        .when(has["has_phone"]).then(has["phone_raw"])
    ).to_series()  # fmt: skip
    base = pl.DataFrame(
        {
            "contact_id": [f"C{x:08d}" for x in has["i"]],
            "email": email,
            "phone": phone,
            "first_name": has["first_name"],
            "last_name": has["last_name"],
            "company": has["company"],
            "job_title": [TITLES[t][0] for t in has["title_i"]],
            "industry": [INDUSTRIES[t] for t in has["industry_i"]],
            "employee_count": has["employees"],
            "country": country_name,
            "city": cities,
            "state": None,
            "postal_code": [f"{10000 + (x * 37) % 89999:05d}" for x in has["i"]],
            "gender": has["gender"],
            "birth_date": _ts(as_of, has["birth_days"].to_numpy()).dt.date().cast(pl.Datetime("us")),
            "created_at": _ts(as_of, created_days),
            "updated_at": _ts(as_of, created_days * rng.uniform(0.1, 1.0, n)),
        }
    ).with_columns(pl.col("state").cast(pl.String))
    tag = np.where(
        junk_email, "junk_email", np.where(role.to_numpy(), "role_email", np.where(junk_phone, "junk_phone", "base"))
    )
    base = base.with_columns(person_key=has["person_key"], truth_tag=_s(tag))
    # duplicates: a second record for the same person, typed differently, often more recent
    dup_mask = rng.random(n) < 0.10
    dup = base.filter(pl.Series(dup_mask))
    hd = has.filter(pl.Series(dup_mask))
    k = dup.height
    no_email = pl.Series(rng.random(k) < 0.3) & hd["has_phone"]
    dup = dup.with_columns(
        contact_id=pl.format("{}-D", "contact_id"),
        email=pl.when(no_email).then(None).otherwise(_email_variant(hd, rng, messy=1.0)),
        phone=pl.when(hd["has_phone"]).then(pl.Series(hd["phone_e164"])),
        first_name=pl.col("first_name").str.to_uppercase(),
        job_title=pl.Series([TITLES[min(t + 1, len(TITLES) - 1)][0] for t in hd["title_i"]]),
        updated_at=_ts(as_of, rng.uniform(1, 20, k)),
        city=pl.lit(None, dtype=pl.String),
        truth_tag=pl.lit("crm_duplicate"),
    )
    crm = pl.concat([base, dup])
    shared = pl.concat(
        [
            _typed("email", email.filter(role).str.strip_chars().str.to_lowercase()),
            _typed("email", pl.Series(JUNK_EMAILS)),
            _typed("phone", pl.Series(JUNK_PHONES)),
        ]
    )
    return crm, shared


def _typed(identifier_type: str, values: pl.Series) -> pl.DataFrame:
    """(identifier_type, identifier_value) rows; typed String also when there are none (a small population
    may have no role address)."""
    return pl.DataFrame({"identifier_value": values.cast(pl.String)}).select(
        identifier_type=pl.lit(identifier_type, dtype=pl.String), identifier_value="identifier_value"
    )


def _cookies(df: pl.DataFrame) -> pl.DataFrame:
    """One row per (person, cookie)."""
    return (
        df.select("i", "person_key", "n_cookies", "user_id", "anonymous")
        .with_columns(j=pl.int_ranges(0, "n_cookies"))
        .explode("j")
        .with_columns(cookie_id=pl.format("ck{}", (pl.col("i") * 4 + pl.col("j")).map_elements(lambda v: f"{v:09x}", return_dtype=pl.String)))
    )  # fmt: skip


def _web(
    df: pl.DataFrame, cookies: pl.DataFrame, rng: np.random.Generator, as_of: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = df.height
    p = df["propensity"].to_numpy()
    anonymous = df["anonymous"].to_numpy()
    converted = df["converted"].to_numpy()
    counts = rng.poisson(np.where(anonymous, 3.0, 6.0 + 30.0 * p))
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    # converters are busier just before the label window: recent interest predicts conversion
    recent = converted[owner] & (rng.random(m) < 0.5)
    days = np.where(
        recent,
        LABEL_WINDOW_DAYS + rng.exponential(12.0, m),
        rng.uniform(0, HISTORY_DAYS, m),
    )
    days = np.minimum(days, HISTORY_DAYS)
    ncook = df["n_cookies"].to_numpy()[owner]
    cookie_j = (rng.random(m) * ncook).astype(np.int64)
    cookie = [f"ck{v:09x}" for v in df["i"].to_numpy()[owner] * 4 + cookie_j]
    page_bias = np.where(recent, 0.55, 0.0)
    pages = np.where(rng.random(m) < page_bias, 1, rng.choice(len(PAGES), size=m, p=PAGE_P))
    user = df["user_id"].to_numpy()[owner]
    logged_in = rng.random(m) < 0.5
    etype = np.full(m, "page_view", dtype=object)
    r = rng.random(m)
    etype[(r < 0.06)] = "add_to_cart"
    etype[(r >= 0.06) & (r < 0.08)] = "checkout_started"
    etype[(r >= 0.08) & (r < 0.09) & ~anonymous[owner]] = "form_submit"
    etype[(r >= 0.09) & (r < 0.095)] = "trial_started"
    email_var = _email_variant(df, rng).to_numpy()[owner]
    occurred = _ts(as_of, days)
    late = rng.random(m) < 0.02
    received = _ts(as_of, days - np.where(late, rng.uniform(2, 6, m), rng.uniform(0, 0.0005, m)))
    web = pl.DataFrame(
        {
            "cookie_id": cookie,
            "user_id": _s(np.where(logged_in & (etype != "form_submit"), user, None)),
            "email": _s(np.where(etype == "form_submit", email_var, None)),
            "event_type": _s(etype),
            "page_path": _s(np.asarray(PAGES, dtype=object)[pages]),
            "occurred_at": occurred,
            "received_at": received,
            "person_key": df["person_key"].gather(owner),
            "truth_tag": "base",
        }
    )
    # every registered person signed up once, on their first cookie, with user id and email together
    reg = df.filter(pl.col("user_id").is_not_null())
    signup = pl.DataFrame(
        {
            "cookie_id": [f"ck{v * 4:09x}" for v in reg["i"]],
            "user_id": reg["user_id"],
            "email": _email_variant(reg, rng),
            "event_type": "signup",
            "page_path": "/signup",
            "person_key": reg["person_key"],
            "occurred_at": _ts(as_of, rng.uniform(HISTORY_DAYS * 0.8, HISTORY_DAYS, reg.height)),
        }
    ).with_columns(received_at=pl.col("occurred_at"))
    # households: a partner logs in on this person's first cookie, so the device is shared
    hh = df.filter(pl.Series(rng.random(n) < 0.03) & pl.col("user_id").is_not_null() & ~pl.col("anonymous"))
    partner = df.filter(pl.col("user_id").is_not_null()).sample(n=min(hh.height, reg.height), seed=int(rng.integers(1 << 31)), with_replacement=True)  # fmt: skip
    pair = pl.DataFrame(
        {
            "cookie_id": [f"ck{v * 4:09x}" for v in hh["i"]],
            "user_id": partner["user_id"][: hh.height],
            "person_key": partner["person_key"][: hh.height],
        }
    )
    pair = pair.filter(pl.col("user_id") != pl.Series(hh["user_id"][: pair.height]))
    household = pair.with_columns(
        email=pl.lit(None, dtype=pl.String),
        event_type=pl.lit("login"),
        page_path=pl.lit("/login"),
        truth_tag=pl.lit("household_login"),
        occurred_at=_ts(as_of, rng.uniform(31, 200, pair.height)),
    ).with_columns(received_at=pl.col("occurred_at"))
    # a known person identifies themself on (almost) every device: a login, or a form fill if not registered
    dev = cookies.filter(~pl.col("anonymous")).join(
        df.select("person_key", "email_local", "email_domain"), on="person_key"
    )
    dev = dev.filter(pl.Series(rng.random(dev.height) < 0.985))
    ident = pl.DataFrame(
        {
            "cookie_id": dev["cookie_id"],
            "user_id": dev["user_id"],
            "email": pl.select(pl.when(dev["user_id"].is_null()).then(_email_variant(dev, rng))).to_series(),
            "event_type": pl.select(
                pl.when(dev["user_id"].is_null()).then(pl.lit("form_submit")).otherwise(pl.lit("login"))
            ).to_series(),
            "page_path": pl.select(
                pl.when(dev["user_id"].is_null()).then(pl.lit("/demo")).otherwise(pl.lit("/login"))
            ).to_series(),
            "occurred_at": _ts(as_of, rng.uniform(LABEL_WINDOW_DAYS + 1, HISTORY_DAYS, dev.height)),
            "person_key": dev["person_key"],
        }
    ).with_columns(received_at=pl.col("occurred_at"))
    web = pl.concat([web, signup, household, ident], how="diagonal_relaxed").with_columns(
        pl.col("truth_tag").fill_null("base")
    )
    shared = pair.select(pl.lit("cookie").alias("identifier_type"), pl.col("cookie_id").alias("identifier_value"))
    return web, shared


def _orders(df: pl.DataFrame, rng: np.random.Generator, as_of: datetime) -> pl.DataFrame:
    known = df.filter(~pl.col("anonymous"))
    n = known.height
    p = known["propensity"].to_numpy()
    hist = rng.poisson(1.2 * p)
    owner_h = np.repeat(np.arange(n), hist)
    days_h = rng.uniform(LABEL_WINDOW_DAYS + 1, HISTORY_DAYS, len(owner_h))
    conv_idx = np.flatnonzero(known["converted"].to_numpy())
    days_c = rng.uniform(0.5, LABEL_WINDOW_DAYS - 0.5, len(conv_idx))
    owner = np.concatenate([owner_h, conv_idx])
    days = np.concatenate([days_h, days_c])
    m = len(owner)
    sub = known[owner]
    email = _email_variant(sub, rng)
    junk = pl.Series(rng.random(m) < 0.01)
    cur = [COUNTRIES[c][3] for c in sub["country_i"]]
    status = np.where(rng.random(m) < 0.92, "completed", np.where(rng.random(m) < 0.6, "refunded", "cancelled"))
    status[len(owner_h) :] = "completed"
    return pl.DataFrame(
        {
            "email": pl.select(pl.when(junk).then(pl.lit("none@none.com")).otherwise(email)).to_series(),
            "phone": pl.select(pl.when(sub["has_phone"] & pl.Series(rng.random(m) < 0.4)).then(sub["phone_e164"])).to_series(),
            "user_id": _s(np.where(rng.random(m) < 0.5, sub["user_id"].to_numpy(), None)),
            "amount": np.round(rng.lognormal(4.2, 0.7, m), 2),
            "currency": cur,
            "status": status,
            "ordered_at": _ts(as_of, days),
            "person_key": sub["person_key"],
            "truth_tag": pl.select(pl.when(junk).then(pl.lit("junk_email")).otherwise(pl.lit("base"))).to_series(),
        }
    )  # fmt: skip


def _email_events(df: pl.DataFrame, rng: np.random.Generator, as_of: datetime) -> pl.DataFrame:
    known = df.filter(~pl.col("anonymous"))
    n = known.height
    p = known["propensity"].to_numpy()
    sends = rng.poisson(8, n)
    owner = np.repeat(np.arange(n), sends)
    m = len(owner)
    addr = known["email"].to_numpy()[owner]
    camp = rng.integers(0, len(CAMPAIGNS), m)
    day = rng.uniform(0, HISTORY_DAYS, m)
    pp = p[owner]
    bounce = rng.random(m) < 0.02
    hard = rng.random(m) < 0.4
    opened = ~bounce & (rng.random(m) < 0.15 + 0.6 * pp)
    clicked = opened & (rng.random(m) < 0.1 + 0.5 * pp)
    unsub = ~bounce & (rng.random(m) < 0.006)
    spam = ~bounce & (rng.random(m) < 0.001)
    parts = []
    for etype, mask, lag in (
        ("sent", np.ones(m, bool), 0.0),
        ("delivered", ~bounce, 0.001),
        ("bounce", bounce, 0.001),
        ("open", opened, 0.2),
        ("click", clicked, 0.21),
        ("unsubscribe", unsub, 0.3),
        ("spam_report", spam, 0.3),
    ):
        k = int(mask.sum())
        parts.append(
            pl.DataFrame(
                {
                    "email": _s(addr[mask]),
                    "campaign_id": _s(np.asarray(CAMPAIGNS, dtype=object)[camp[mask]]),
                    "event_type": etype,
                    "bounce_type": _s(np.where(hard[mask], "hard", "soft") if etype == "bounce" else np.full(k, None)),
                    # no later than the last second of the as-of day (the data ends strictly before as_of)
                    "occurred_at": _ts(as_of, np.maximum(day[mask] - lag, 1 / 86400)),
                    "person_key": known["person_key"].gather(owner[mask]),
                }
            )
        )
    return pl.concat(parts)


def _consent(df: pl.DataFrame, rng: np.random.Generator, as_of: datetime, crm_people: pl.Series) -> pl.DataFrame:
    known = df.filter(~pl.col("anonymous"))
    in_crm = known["person_key"].is_in(crm_people.implode()).to_numpy()
    n = known.height
    parts = []
    sources = ["web_form", "preference_center", "crm", "import"]
    for channel, p_grant, id_type in (
        ("email", 0.75, "email"),
        ("ads", 0.55, "email"),
        ("sms", 0.35, "phone"),
    ):
        mask = rng.random(n) < p_grant
        if id_type == "phone":  # SMS opt-in is offered to contacts whose number the CRM holds
            mask &= known["has_phone"].to_numpy() & in_crm
        sub = known.filter(pl.Series(mask))
        k = sub.height
        ident = _email_variant(sub, rng) if id_type == "email" else sub["phone_e164"]
        granted_days = rng.uniform(60, HISTORY_DAYS, k)
        grants = pl.DataFrame(
            {
                "identifier_type": id_type,
                "identifier": ident,
                "purpose": "marketing",
                "channel": channel,
                "status": "granted",
                "source": _s(np.asarray(sources, dtype=object)[rng.integers(0, 4, k)]),
                "occurred_at": _ts(as_of, granted_days),
                "person_key": sub["person_key"],
            }
        )
        revoke = pl.Series(rng.random(k) < 0.08)
        revokes = grants.filter(revoke).with_columns(
            status=pl.lit("revoked"),
            source=pl.lit("preference_center"),
            occurred_at=_ts(as_of, granted_days[revoke.to_numpy()] * rng.uniform(0.05, 0.9, int(revoke.sum()))),
        )
        parts += [grants, revokes]
    return pl.concat(parts)


def _erasures(df: pl.DataFrame, rng: np.random.Generator, as_of: datetime) -> pl.DataFrame:
    known = df.filter(~pl.col("anonymous"))
    sub = known.filter(pl.Series(rng.random(known.height) < 0.005))
    return pl.DataFrame(
        {
            "identifier_type": "email",
            "identifier": _email_variant(sub, rng),
            "requested_at": _ts(as_of, rng.uniform(0.5, 20, sub.height)),
        }
    )


def _truth_identifiers(df: pl.DataFrame, cookies: pl.DataFrame, crm: pl.DataFrame) -> pl.DataFrame:
    known = df.filter(~pl.col("anonymous"))
    return pl.concat(
        [
            known.select(pl.lit("email").alias("identifier_type"), pl.col("email_canonical").alias("identifier_value"), "person_key"),
            known.filter("has_phone").select(pl.lit("phone").alias("identifier_type"), pl.col("phone_e164").alias("identifier_value"), "person_key"),
            known.filter(pl.col("user_id").is_not_null()).select(pl.lit("user_id").alias("identifier_type"), pl.col("user_id").alias("identifier_value"), "person_key"),
            crm.select(pl.lit("crm_id").alias("identifier_type"), pl.col("contact_id").alias("identifier_value"), "person_key"),
            cookies.select(pl.lit("cookie").alias("identifier_type"), pl.col("cookie_id").alias("identifier_value"), "person_key"),
        ]
    )  # fmt: skip


def _truth_records(source: str, key: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The true person of each record, its tag, and (hard mode) the identifiers perfect normalization reads."""
    for col in ("truth_tag", "truth_identifiers"):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    return frame.select(
        pl.format("{}:{}", pl.lit(source), pl.col(key)).alias("record_id"),
        pl.col("person_key").alias("person"),
        pl.col("truth_tag").fill_null("base").alias("tag"),
        pl.col("truth_identifiers").cast(pl.String).alias("identifiers"),
    )


def _with_ids(df: pl.DataFrame, prefix: str, key: str, offset: int) -> pl.DataFrame:
    ids = pl.concat_str(pl.lit(prefix), pl.int_range(offset, offset + df.height).cast(pl.String).str.zfill(10))
    return df.select(ids.alias(key), pl.all())


def generate(people: int, seed: int, out_dir: Path, as_of: date = DEFAULT_AS_OF, hard: bool = False) -> GenerateResult:
    """Write the raw tables to `out_dir/raw/<table>/part-*.parquet` and the truth to `out_dir/truth/`.

    `truth/records` holds the true person of every record the identity graph reads (record_id as in
    int_identity__record_persons), with a tag naming its class: `outflow identity --truth` reads it. With `hard`,
    the hard classes of outflow/generate_hard.py are added to the easy mix, each tagged.
    """
    if people < 1:
        raise ValueError("people must be at least 1")
    # the dataset runs through the end of its as-of day (the as-of semantics of outflow/asof.py)
    as_of_dt = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    raw_dir, truth_dir = out_dir / "raw", out_dir / "truth"
    for d in (raw_dir, truth_dir):
        if d.exists():
            shutil.rmtree(d)
    rows: dict[str, int] = {}
    counters: dict[str, int] = {}

    def write(folder: Path, name: str, frame: pl.DataFrame, part: int) -> None:
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(target / f"part-{part:04d}.parquet")
        rows[name] = rows.get(name, 0) + frame.height

    def keyed(name: str, prefix: str, key: str, frame: pl.DataFrame) -> pl.DataFrame:
        start = counters.get(name, 0)
        counters[name] = start + frame.height
        return _with_ids(frame, prefix, key, start)

    for part, start in enumerate(range(0, people, CHUNK_PEOPLE)):
        n = min(CHUNK_PEOPLE, people - start)
        rng = np.random.default_rng([seed, part])
        df = _people(rng, start, n, people)
        cookies = _cookies(df)
        crm, shared_crm = _crm(df, rng, as_of_dt)
        web, shared_web = _web(df, cookies, rng, as_of_dt)
        email_events = keyed("email_events", "E", "event_id", _email_events(df, rng, as_of_dt))
        orders = _orders(df, rng, as_of_dt)
        consent = keyed("consent_events", "K", "event_id", _consent(df, rng, as_of_dt, crm["person_key"]))
        erasures = keyed("erasure_requests", "R", "request_id", _erasures(df, rng, as_of_dt))
        shared = [shared_crm, shared_web]
        extra_ids = []
        if hard:
            extra = hard_records(df, crm, np.random.default_rng([seed, part, 1]), as_of_dt, part)
            frames = extra.frames()
            crm = pl.concat([crm, frames["crm_contacts"]], how="diagonal_relaxed")
            web = pl.concat([web, frames["web_events"]], how="diagonal_relaxed")
            orders = pl.concat([orders, frames["orders"]], how="diagonal_relaxed")
            shared.append(pl.DataFrame(extra.shared, schema=["identifier_type", "identifier_value"], orient="row"))
            extra_ids.append(pl.DataFrame(extra.identifiers, schema=TRUTH_ID_COLUMNS, orient="row"))
        web = keyed("web_events", "W", "event_id", web)
        orders = keyed("orders", "O", "order_id", orders)
        tables = {
            "crm_contacts": ("crm", "contact_id", crm),
            "web_events": ("web", "event_id", web),
            "email_events": ("email", "event_id", email_events),
            "orders": ("order", "order_id", orders),
            "consent_events": ("consent", "event_id", consent),
        }
        for name, (_, _, frame) in tables.items():
            write(raw_dir, name, frame.drop("person_key", "truth_tag", "truth_identifiers", strict=False), part)
        write(raw_dir, "erasure_requests", erasures, part)
        write(truth_dir, "records", pl.concat([_truth_records(*spec) for spec in tables.values()]), part)
        shared = pl.concat(shared).unique()
        ids = pl.concat(
            [_truth_identifiers(df, cookies, crm.filter(pl.col("contact_id").str.starts_with("C"))), *extra_ids]
        )
        ids = ids.join(shared, on=["identifier_type", "identifier_value"], how="anti")
        write(truth_dir, "identifiers", ids, part)
        write(truth_dir, "shared_identifiers", shared, part)
        people_truth = df.select(
            "person_key",
            "propensity",
            "converted",
            pl.col("country").replace_strict(REGION_OF).alias("region"),
            pl.col("anonymous").alias("is_anonymous"),
        )
        write(truth_dir, "people", people_truth, part)
        log.info("generated people %d-%d", start, start + n)
    (out_dir / "AS_OF").write_text(as_of.isoformat() + "\n")
    return GenerateResult(out_dir=out_dir, people=people, rows=rows, as_of=as_of)


def read_as_of(data_dir: Path) -> date | None:
    marker = data_dir / "AS_OF"
    return date.fromisoformat(marker.read_text().strip()) if marker.exists() else None


def plant_campaign_outcomes(
    members: pl.DataFrame,
    *,
    campaign: str,
    window_days: int,
    base_rate: float,
    true_lift: float,
    seed: int = 0,
) -> pl.DataFrame:
    """Orders with a known true campaign effect, for measuring lift (raw.orders columns plus order_id).

    `members`: email, arm (``treated`` or ``holdout``) and exposed_at, one row per exposed person of `campaign`.
    Each holdout member orders within `window_days` after exposure with probability `base_rate`, each treated
    member with `base_rate + true_lift`: the true absolute lift. Orders land at least a minute after exposure.
    """
    rng = np.random.default_rng([seed, len(campaign)])
    treated = (members["arm"] == "treated").to_numpy()
    converts = rng.random(members.height) < np.where(treated, base_rate + true_lift, base_rate)
    buyers = members.filter(pl.Series(converts))
    offset = rng.uniform(60, window_days * 86400 - 60, buyers.height).astype("int64")
    return pl.DataFrame(
        {
            "order_id": [f"L-{campaign}-{i:06d}" for i in range(buyers.height)],
            "email": buyers["email"],
            "phone": pl.Series([None] * buyers.height, dtype=pl.String),
            "user_id": pl.Series([None] * buyers.height, dtype=pl.String),
            "amount": np.round(rng.lognormal(4.2, 0.7, buyers.height), 2),
            "currency": ["USD"] * buyers.height,
            "status": ["completed"] * buyers.height,
            "ordered_at": buyers["exposed_at"].cast(pl.Datetime("us"))
            + pl.Series(offset * 1_000_000).cast(pl.Duration("us")),
        }
    )
