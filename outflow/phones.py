"""The phone step: raw phones normalized to E.164 with `phonenumbers`, once per distinct (phone, region).

dbt lists every distinct raw phone with the region it is parsed for (model stg_phones__distinct: the record's
country when known, else var('default_phone_region')). This step parses the pairs its lookup table has not seen
yet and appends them (source outflow_identity.phones_e164); stg_phones__e164 joins the two. It runs between dbt
models on every engine, so it goes through the warehouse interface only. Nothing here imports Dagster.

A number that does not parse or is not valid for its region normalizes to null, so a typo never becomes an
identifier.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import phonenumbers
import pyarrow as pa

if TYPE_CHECKING:
    from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
LOOKUP = f"{SCHEMA}.phones_e164"
DISTINCT = "main.stg_phones__distinct"


def e164(raw: str, region: str | None) -> str | None:
    """`raw` in E.164 (e.g. "+14155550100"), read as a number of `region` when it has no country code."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ensure_lookup(wh: Warehouse) -> None:
    """Create the lookup table (empty) if this warehouse has none yet."""
    wh.create_schema(SCHEMA)
    wh.execute(f"create table if not exists {LOOKUP} (phone_raw varchar, region varchar, phone_e164 varchar)")


def normalize_phones(wh: Warehouse) -> int:
    """Parse the (phone, region) pairs of stg_phones__distinct missing from the lookup; return how many."""
    ensure_lookup(wh)
    new = wh.fetch_arrow(
        f"select distinct d.phone_raw, d.region from {DISTINCT} as d "
        f"where d.phone_raw is not null and not exists ("
        f"select 1 from {LOOKUP} as l where l.phone_raw = d.phone_raw and l.region = d.region)"
    )
    if not new.num_rows:
        return 0
    raws, regions = new.column("phone_raw").to_pylist(), new.column("region").to_pylist()
    parsed = pa.table(
        {
            "phone_raw": pa.array(raws, pa.string()),
            "region": pa.array(regions, pa.string()),
            "phone_e164": pa.array([e164(r, g) for r, g in zip(raws, regions, strict=True)], pa.string()),
        }
    )
    wh.write_arrow(LOOKUP, parsed, mode="append")
    log.info("phones: %d new (phone, region) pairs normalized", parsed.num_rows)
    return parsed.num_rows
