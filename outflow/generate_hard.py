"""The generator's hard mode: the inputs that break identity resolution in real exports, each record tagged.

`outflow generate --hard` adds these records to the easy mix (outflow/generate.py), from a random stream of
their own, so the easy records stay exactly as they are. Each added record carries a tag naming its class
(`truth/records`, column `tag`) and the identifiers a resolver with perfect normalization would read from it
(column `identifiers`, space-separated `type:value` keys), for the exact-match ceiling of the evaluation.

False merges a resolver must avoid: household cookies (one member logged in, others filled forms), junk user
ids, switchboard numbers with extensions, a household landline written in two formats, `1234567890` in UK
records, junk emails, role-address variants. Links it must find: emails with invisible characters or wrapped,
labelled phones, the `00` prefix, national phones in country-less sources, country names in other languages,
one person with 31 cookies. Links only a fuzzy stage can find: CRM duplicates that share only name and company,
and one-character typos in the email.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import phonenumbers
import polars as pl

#: the classes of the hard mode, as tagged in truth/records
HARD_TAGS = (
    "household_cookie",
    "junk_user_id",
    "switchboard_extension",
    "landline_two_formats",
    "dummy_phone_uk",
    "junk_email",
    "role_email",
    "whitespace_email",
    "wrapped_email",
    "labelled_phone",
    "phone_00_prefix",
    "countryless_phone",
    "country_name",
    "many_cookies",
    "crm_name_only",
    "email_typo",
)
JUNK_USER_IDS = ["guest", "none", "undefined", "anonymous"]
JUNK_EMAILS = ["email@email.com", "noemail@{domain}", "none@none.com", "n/a@n.a"]
ROLE_VARIANTS = ["info.uk", "sales.team", "admin2", "contact-us"]
# country as a CRM user types it, and the first of a run of valid mobile numbers there (E.164 digits)
FOREIGN = [
    ("Holland", 31_612_340_000),
    ("España", 34_612_340_000),
    ("Sverige", 46_701_230_000),
    ("Brasil", 5_511_912_340_000),
    ("India", 919_123_400_000),
]
COUNTRY_NAME = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "CA": "Canada",
    "AU": "Australia",
}


@dataclass
class HardRecords:
    crm: list[dict] = field(default_factory=list)
    web: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    shared: list[tuple[str, str]] = field(default_factory=list)  # (identifier_type, value) that several use
    identifiers: list[tuple[str, str, str]] = field(default_factory=list)  # (type, value, person_key)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {
            "crm_contacts": pl.DataFrame(self.crm, infer_schema_length=None),
            "web_events": pl.DataFrame(self.web, infer_schema_length=None),
            "orders": pl.DataFrame(self.orders, infer_schema_length=None),
        }


def _keys(*pairs: tuple[str, str | None]) -> str:
    return " ".join(f"{t}:{v}" for t, v in pairs if v)


def _national(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)


def _typo(local: str, k: int) -> str:
    """One letter changed: two adjacent letters swapped, or one doubled (digits stay: they tell accounts apart)."""
    spots = [i for i in range(1, len(local) - 1) if local[i].isalpha() and local[i + 1].isalpha()]
    i = spots[k % len(spots)] if spots else 0
    if k % 2 and local[i] != local[i + 1]:
        return local[:i] + local[i + 1] + local[i] + local[i + 2 :]
    return local[:i] + local[i] + local[i:]


def hard_records(
    df: pl.DataFrame, crm: pl.DataFrame, rng: np.random.Generator, as_of: datetime, part: int
) -> HardRecords:
    """The hard classes for one chunk of people (`df` from the generator, `crm` its CRM records with person_key).

    About 1% of the chunk's people per class (junk user ids: 5%), at least a few records each.
    """
    out = HardRecords()
    known = df.filter(~pl.col("anonymous"))
    rows = known.to_dicts()
    by_key = {r["person_key"]: r for r in rows}
    in_crm = [by_key[k] for k in crm["person_key"].unique(maintain_order=True) if k in by_key]
    k = max(3, len(rows) // 100)
    seq = iter(range(10**9))

    def pick(pool: list[dict], n: int) -> list[dict]:
        return [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)]

    def when() -> datetime:
        return as_of - timedelta(days=float(rng.uniform(1, 300)))

    def crm_row(p: dict, tag: str, ids: str, **values) -> None:
        cid = f"H{part:03d}{next(seq):07d}"
        t = when()
        row = {
            "contact_id": cid,
            "email": None,
            "phone": None,
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "company": p["company"],
            "country": COUNTRY_NAME[p["country"]],
            "created_at": t,
            "updated_at": t,
            "person_key": p["person_key"],
            "truth_tag": tag,
            "truth_identifiers": _keys(("crm_id", cid)) + (" " + ids if ids else ""),
        }
        out.crm.append(row | values)
        out.identifiers.append(("crm_id", cid, p["person_key"]))

    def web_row(person: str, tag: str, ids: str, cookie: str, event: str = "page_view", **values) -> None:
        t = when()
        row = {
            "cookie_id": cookie,
            "user_id": None,
            "email": None,
            "event_type": event,
            "page_path": "/",
            "occurred_at": t,
            "received_at": t,
            "person_key": person,
            "truth_tag": tag,
            "truth_identifiers": ids,
        }
        out.web.append(row | values)

    def login(p: dict, tag: str, cookie: str, views: int) -> None:
        """The person logs in on the cookie, then views pages on it without logging in."""
        ids = _keys(("cookie", cookie), ("user_id", p["user_id"]))
        web_row(p["person_key"], tag, ids, cookie, "login", user_id=p["user_id"], page_path="/login")
        for _ in range(views):
            web_row(p["person_key"], tag, _keys(("cookie", cookie)), cookie)

    def order_row(p: dict, tag: str, ids: str, **values) -> None:
        row = {
            "email": None,
            "phone": None,
            "user_id": None,
            "amount": 50.0,
            "currency": "USD",
            "status": "completed",
            "ordered_at": when(),
            "person_key": p["person_key"],
            "truth_tag": tag,
            "truth_identifiers": ids,
        }
        out.orders.append(row | values)

    registered = [r for r in rows if r["user_id"]]
    with_phone = [r for r in rows if r["has_phone"]]
    foreign_phone = [r for r in with_phone if r["country"] not in ("US", "CA")]

    # household cookie: one member logs in on it, two others fill forms on it
    for j, (a, b, c) in enumerate(zip(pick(registered, k), pick(rows, k), pick(rows, k), strict=False)):
        cookie = f"hh{part:03d}{j:06d}"
        out.shared.append(("cookie", cookie))
        login(a, "household_cookie", cookie, views=3)
        for other in (b, c):
            if other["person_key"] != a["person_key"]:
                web_row(
                    other["person_key"],
                    "household_cookie",
                    _keys(("cookie", cookie), ("email", other["email_canonical"])),
                    cookie,
                    "form_submit",
                    email=other["email"],
                    page_path="/demo",
                )
    # junk user ids typed into the login of many unrelated people's first cookie
    for j, p in enumerate(pick(rows, max(4, len(rows) // 20))):
        cookie = f"ck{p['i'] * 4:09x}"
        web_row(
            p["person_key"],
            "junk_user_id",
            _keys(("cookie", cookie)),
            cookie,
            "login",
            user_id=JUNK_USER_IDS[j % 4],
            page_path="/login",
        )
    for v in JUNK_USER_IDS:
        out.shared.append(("user_id", v))
    # a company switchboard: three people on one main line, two with their own extension, one without
    for j in range(max(1, k // 2)):
        line = f"+44207946{j % 1000:04d}"
        out.shared.append(("phone", line))
        for n, p in enumerate(pick(in_crm, 3)):
            ext = f"{10 + 11 * n}"
            raw, key = (
                (f"+44 20 7946 {j % 1000:04d} ext. {ext}", f"{line};ext={ext}"),
                (f"020 7946 {j % 1000:04d} x{ext}", f"{line};ext={ext}"),
                (f"+44 (0)20 7946 {j % 1000:04d}", None),
            )[n]
            crm_row(
                p,
                "switchboard_extension",
                _keys(("email", p["email_canonical"]), ("phone", key)),
                email=p["email"],
                phone=raw,
                country="United Kingdom",
            )
    # a household landline two people share, typed two ways
    for j in range(max(1, k // 2)):
        e164 = f"+44113496{j % 1000:04d}"
        out.shared.append(("phone", e164))
        for n, p in enumerate(pick(in_crm, 2)):
            raw = (f"0113 496 {j % 1000:04d}", f"+44 113 496{j % 1000:04d}")[n]
            crm_row(
                p,
                "landline_two_formats",
                _keys(("email", p["email_canonical"])),
                email=p["email"],
                phone=raw,
                country="UK",
            )
    # 1234567890 typed into UK records becomes a valid-looking +441234567890
    out.shared.append(("phone", "+441234567890"))
    for p in pick(in_crm, k):
        crm_row(
            p,
            "dummy_phone_uk",
            _keys(("email", p["email_canonical"])),
            email=p["email"],
            phone="1234567890",
            country="UK",
        )
    # junk emails on orders that also carry the buyer's phone
    for j, p in enumerate(pick(with_phone, k)):
        junk = JUNK_EMAILS[j % 4].format(domain=p["domain"])
        out.shared.append(("email", junk))
        order_row(p, "junk_email", _keys(("phone", p["phone_e164"])), email=junk, phone=p["phone_e164"])
    # role-address variants: two colleagues per company on one role address
    companies: dict[str, list[dict]] = {}
    for p in in_crm:
        companies.setdefault(p["company"], []).append(p)
    shared_companies = [ps for ps in companies.values() if len(ps) >= 2]
    for j, i in enumerate(rng.permutation(len(shared_companies))[: max(1, k // 2)]):
        colleagues = shared_companies[i][:2]
        role = f"{ROLE_VARIANTS[j % 4]}@{colleagues[0]['domain']}"
        out.shared.append(("email", role))
        for p in colleagues:
            crm_row(p, "role_email", "", email=role)
    # emails with invisible characters: the order links only through its email
    for j, p in enumerate(pick(rows, k)):
        local, domain = p["email"].split("@")
        email = (f"\t{p['email']}\u00a0", f"{local[:2]}\u200b{local[2:]}@{domain}", f"\ufeff{p['email']}\u2060")[j % 3]
        order_row(p, "whitespace_email", _keys(("email", p["email_canonical"])), email=email)
    # wrapped emails
    for j, p in enumerate(pick(rows, k)):
        e = p["email"]
        email = (f"<{e}>", f"{p['first_name']} {p['last_name']} <{e}>", f"mailto:{e}", f"{e}.")[j % 4]
        order_row(p, "wrapped_email", _keys(("email", p["email_canonical"])), email=email)
    # labelled phones on CRM records that link only through their phone
    for j, p in enumerate(pick(with_phone, k)):
        phone = (
            f"mobile: {p['phone_raw']}",
            f"Mob. {p['phone_raw']}",
            f"tel:{p['phone_e164']}",
            f"Tel {p['phone_raw']}",
        )[j % 4]
        crm_row(p, "labelled_phone", _keys(("phone", p["phone_e164"])), phone=phone)
    # the 00 international prefix on orders (no country): they link only through their phone
    for p in pick(foreign_phone, k):
        order_row(p, "phone_00_prefix", _keys(("phone", p["phone_e164"])), phone="00" + p["phone_e164"][1:])
    # a national phone on an order (a source with no country) of a person outside the default region
    for p in pick(foreign_phone, k):
        national = phonenumbers.format_number(
            phonenumbers.parse(p["phone_e164"]), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        order_row(p, "countryless_phone", _keys(("phone", p["phone_e164"])), phone=national)
    # people in countries whose names the CRM writes in their own language: CRM (national phone) + order
    for j in range(k):
        name, first_number = FOREIGN[j % len(FOREIGN)]
        e164 = f"+{first_number + part * 1000 + j // len(FOREIGN)}"
        p = {
            "person_key": f"X{part:03d}{j:06d}",
            "first_name": rows[j % len(rows)]["first_name"],
            "last_name": rows[j % len(rows)]["last_name"],
            "company": rows[(7 * j + 3) % len(rows)]["company"],
            "country": "GB",
        }
        email = f"{p['first_name'].lower()}.{p['last_name'].lower()}.x{part}{j}@outlook.com"
        national = _national(e164)
        crm_row(p, "country_name", _keys(("email", email), ("phone", e164)), email=email, phone=national, country=name)
        order_row(p, "country_name", _keys(("phone", e164)), phone=e164)
        out.identifiers += [("email", email, p["person_key"]), ("phone", e164, p["person_key"])]
    # one person with 31 cookies, each with a login and two page views
    for p in pick(registered, max(1, len(rows) // 5000)):
        for j in range(31):
            cookie = f"mc{p['i']:07d}{j:02d}"
            out.identifiers.append(("cookie", cookie, p["person_key"]))
            login(p, "many_cookies", cookie, views=2)
    # CRM duplicates that share only name and company with the person's other CRM record
    for j, p in enumerate(pick(in_crm, k)):
        first = p["first_name"].upper() if j % 2 else p["first_name"]
        crm_row(p, "crm_name_only", "", first_name=first)
    # a one-character typo in the email of a CRM duplicate
    for j, p in enumerate(pick(in_crm, k)):
        local, domain = p["email_canonical"].split("@")
        crm_row(p, "email_typo", "", email=f"{_typo(local, j)}@{domain}")
    return out
