"""The normalization step: raw countries, phones and emails normalized once per distinct value, between dbt models.

dbt lists every distinct raw value (models stg_countries__distinct, stg_phones__distinct, stg_emails__distinct).
This step normalizes the ones its lookup tables have not seen yet with the pure functions of `outflow.normalize`
and appends them (sources outflow_identity.countries, .phones_e164 and .emails); the staging models join them.
A phone is read in its record's country (resolved with pycountry) when known, else in its source's default
region. It runs on every engine, so it goes through the warehouse interface only. Nothing here imports Dagster.

A value that does not normalize gets a null value and a `reject_reason`, so a typo never becomes an identifier
and is never dropped silently (model identity_rejected_values lists them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from outflow import normalize

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
LOOKUP = f"{SCHEMA}.phones_e164"
COUNTRIES = f"{SCHEMA}.countries"
EMAILS = f"{SCHEMA}.emails"
DISTINCT = "main.stg_phones__distinct"
DISTINCT_COUNTRIES = "main.stg_countries__distinct"
DISTINCT_EMAILS = "main.stg_emails__distinct"


def ensure_lookup(wh: Warehouse) -> None:
    """Create the lookup tables (empty) if this warehouse has none yet; add the columns older ones lack."""
    wh.create_schema(SCHEMA)
    wh.execute(f"create table if not exists {LOOKUP} (phone_raw varchar, region varchar, phone_e164 varchar)")
    have = wh.columns(SCHEMA, "phones_e164")  # (`add column if not exists` is not Spark SQL)
    for column in ("phone_extension", "reject_reason"):
        if column not in have:
            wh.execute(f"alter table {LOOKUP} add column {column} varchar")
    wh.execute(f"create table if not exists {COUNTRIES} (country_raw varchar, iso2 varchar)")
    wh.execute(
        f"create table if not exists {EMAILS} "
        "(email_raw varchar, email_address varchar, email_canonical varchar, reject_reason varchar)"
    )


def clear_lookups(wh: Warehouse) -> None:
    """Empty the lookups, for `outflow build --full-refresh`: the step then normalizes every raw value again with
    the rules of today (a new phonenumbers, email rules or source regions), as the rebuilt models expect. They are a
    cache of pure functions, not history, so nothing is lost. Truncated, not dropped: the staging views that read
    them stay valid on every engine."""
    ensure_lookup(wh)
    for table in (LOOKUP, COUNTRIES, EMAILS):
        wh.execute(f"truncate table {table}")


def _strings(columns: dict[str, list]) -> pa.Table:
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def _string_table(frame: pl.DataFrame) -> pa.Table:
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(
        pa.schema([(c, pa.string()) for c in frame.columns])
    )


def _filled(column: pl.Series, rows: pl.Series, results: list, attr: str) -> pl.Series:
    """`column` with each of `rows` set to that result's `attr` (the values normalized one at a time)."""
    return column.scatter(rows, pl.Series([getattr(r, attr) for r in results], dtype=pl.String))


def normalize_countries(wh: Warehouse) -> int:
    """Resolve the raw country names the lookup has not seen with pycountry; return how many."""
    ensure_lookup(wh)
    new = wh.fetch_arrow(
        f"select d.country_raw from {DISTINCT_COUNTRIES} as d where not exists ("
        f"select 1 from {COUNTRIES} as l where l.country_raw = d.country_raw)",
    )
    raws = new.column("country_raw").to_pylist()
    if raws:
        wh.write_arrow(COUNTRIES, _strings({"country_raw": raws, "iso2": [normalize.country_iso2(r) for r in raws]}))
    return len(raws)


def _phones(raws: pl.Series, regions: pl.Series) -> pl.DataFrame:
    """`normalize.phone` of each (raw, region) pair: columns e164, extension, reason. Pairs written plainly get
    their key all at once (`normalize.plain_phone_keys`: at 300k people every pair), the others one at a time
    (`normalize.PhoneChecker`); each distinct key is parsed once."""
    check = normalize.PhoneChecker()
    keys = normalize.plain_phone_keys(raws, regions)
    rest = keys.get_column("number").is_null().arg_true()
    out = [check(r, g) for r, g in zip(raws.gather(rest).to_list(), regions.gather(rest).to_list(), strict=True)]
    distinct = keys.filter(pl.col("number").is_not_null()).unique()
    parsed = [check.key(n, g) for n, g in distinct.iter_rows()]
    looked_up = keys.join(
        distinct.with_columns(
            **{
                attr: pl.Series([getattr(p, attr) for p in parsed], dtype=pl.String)
                for attr in ("e164", "extension", "reason")
            }
        ),
        on=["number", "key_region"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    return pl.DataFrame(
        {attr: _filled(looked_up.get_column(attr), rest, out, attr) for attr in ("e164", "extension", "reason")}
    )


def normalize_phones(wh: Warehouse) -> int:
    """Resolve new countries, then parse the (phone, region) pairs missing from the lookup; return how many."""
    normalize_countries(wh)
    new = wh.fetch_arrow(
        f"select distinct d.phone_raw, coalesce(c.iso2, d.default_region) as region from {DISTINCT} as d "
        f"left join {COUNTRIES} as c on c.country_raw = d.country_raw "
        f"where d.phone_raw is not null and not exists (select 1 from {LOOKUP} as l "
        f"where l.phone_raw = d.phone_raw and l.region = coalesce(c.iso2, d.default_region))",
    )
    if not new.num_rows:
        return 0
    pairs = pl.from_arrow(new)
    parsed = _phones(pairs.get_column("phone_raw"), pairs.get_column("region"))
    rows = pairs.with_columns(
        phone_e164=parsed.get_column("e164"),
        phone_extension=parsed.get_column("extension"),
        reject_reason=parsed.get_column("reason"),
    )
    wh.write_arrow(LOOKUP, _string_table(rows))
    log.info("phones: %d new (phone, region) pairs normalized", rows.height)
    return rows.height


def _emails(raws: pl.Series, checker: normalize.EmailChecker | None = None) -> pl.DataFrame:
    """The lookup's rows for `raws`: `normalize.email` of each raw value. Values of the usual kind are normalized
    all at once (`normalize.plain_emails`: at 300k people every raw value); the others one at a time,
    validated once per cleaned value, each distinct local part and domain once (`normalize.EmailChecker`). An
    ASCII address is validated in lower case, as its result is lower-cased anyway; a rejection is checked again as
    typed, so its reason quotes what was typed. `checker` carries the parts' results from one chunk to the next
    (a few thousand domains, and the local parts that are not dot-atoms)."""
    checker = checker or normalize.EmailChecker()
    plain = normalize.plain_emails(raws, checker)
    rest = plain.get_column("address").is_null().arg_true()
    checked: dict[str, normalize.Email] = {}

    def check(text: str) -> normalize.Email:
        if text not in checked:
            checked[text] = checker(text)
        return checked[text]

    out = []
    for raw in raws.gather(rest).to_list():
        text = normalize.email_text(raw)
        if isinstance(text, str):
            folded = check(text.lower() if text.isascii() else text)
            text = folded if folded.address is not None else check(text)
        out.append(text)
    return pl.DataFrame(
        {
            "email_raw": raws,
            "email_address": _filled(plain.get_column("address"), rest, out, "address"),
            "email_canonical": _filled(plain.get_column("canonical"), rest, out, "canonical"),
            "reject_reason": _filled(pl.Series([None] * len(raws), dtype=pl.String), rest, out, "reason"),
        }
    )


#: How many raw emails the email step normalizes and writes at once (its memory is a chunk's)
EMAIL_CHUNK = 200_000


def normalize_emails(wh: Warehouse) -> int:
    """Normalize the raw emails missing from the lookup, a chunk at a time; return how many.

    Each chunk is appended to the lookup as it is done, so the step's memory is a chunk's, not the whole list's
    (2.3M raw emails at 1M people). The raw values come in no order: one checker serves every chunk, so each
    distinct domain and local part is validated once whatever chunk its spellings fall in (sorting them by their
    lower-cased text, to keep one address's spellings in one chunk, cost about a third of the step's remaining
    CPU)."""
    ensure_lookup(wh)
    new = wh.fetch_arrow(
        f"select d.email_raw from {DISTINCT_EMAILS} as d where not exists ("
        f"select 1 from {EMAILS} as l where l.email_raw = d.email_raw)",
    ).column("email_raw")
    checker = normalize.EmailChecker()
    for start in range(0, len(new), EMAIL_CHUNK):
        rows = _emails(pl.Series(new.slice(start, EMAIL_CHUNK), dtype=pl.String), checker)
        wh.write_arrow(EMAILS, _string_table(rows))
    if len(new):
        log.info("emails: %d new raw emails normalized", len(new))
    return len(new)
