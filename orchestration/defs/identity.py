"""The steps that run between dbt models: phone normalization and identity resolution.

Each asset's key is the one dagster-dbt gives the dbt source it writes (outflow_identity.phones_e164,
outflow_identity.person_map), so the dbt models that read them sit downstream in one graph, and Dagster runs
the dbt models before a step, the step, then the rest. Thin wiring over outflow.phones and outflow.person_map.
"""

import dagster as dg

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.person_map import resolve_person_map
from outflow.phones import normalize_emails, normalize_phones

PHONES_KEY = dg.AssetKey(["outflow_identity", "phones_e164"])
COUNTRIES_KEY = dg.AssetKey(["outflow_identity", "countries"])
EMAILS_KEY = dg.AssetKey(["outflow_identity", "emails"])
PERSON_MAP_KEY = dg.AssetKey(["outflow_identity", "person_map"])


def build_defs() -> dg.Definitions:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                PHONES_KEY,
                deps=[dg.AssetKey("stg_phones__distinct")],
                owners=["team:analytics-engineering"],
                description="E.164 lookup of raw phones (extension apart): the (phone, region) pairs not seen "
                "before are parsed with phonenumbers and appended.",
            ),
            dg.AssetSpec(
                COUNTRIES_KEY,
                deps=[dg.AssetKey("stg_countries__distinct")],
                owners=["team:analytics-engineering"],
                description="Raw country names resolved with pycountry.",
            ),
        ],
        group_name="staging",
        pool=WAREHOUSE_POOL,
    )
    def phones_e164(warehouse: WarehouseResource):
        with warehouse.connect() as wh:
            parsed = normalize_phones(wh)
        yield dg.MaterializeResult(asset_key=PHONES_KEY, metadata={"new_phones": dg.MetadataValue.int(parsed)})
        yield dg.MaterializeResult(asset_key=COUNTRIES_KEY)

    @dg.asset(
        key=EMAILS_KEY,
        deps=[dg.AssetKey("stg_emails__distinct")],
        group_name="staging",
        owners=["team:analytics-engineering"],
        pool=WAREHOUSE_POOL,
        description="Raw emails normalized once each (unwrapped, invisible characters removed, syntax checked).",
    )
    def emails(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as wh:
            normalized = normalize_emails(wh)
        return dg.MaterializeResult(metadata={"new_emails": dg.MetadataValue.int(normalized)})

    @dg.asset(
        key=PERSON_MAP_KEY,
        deps=[dg.AssetKey("int_identity__nodes"), dg.AssetKey("int_identity__edges")],
        group_name="intermediate",
        owners=["team:analytics-engineering"],
        pool=WAREHOUSE_POOL,
        description="Identifier to person_id: connected components over the identity graph with the over-merge "
        "guards, ids kept stable from run to run.",
    )
    def person_map(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as wh:
            identifiers = resolve_person_map(wh)
        return dg.MaterializeResult(metadata={"identifiers": dg.MetadataValue.int(identifiers)})

    return dg.Definitions(assets=[phones_e164, emails, person_map])
