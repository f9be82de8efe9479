"""The steps that run between dbt models: phone normalization and identity resolution.

Each asset's key is the one dagster-dbt gives the dbt source it writes (outflow_identity.phones_e164,
outflow_identity.person_map), so the dbt models that read them sit downstream in one graph, and Dagster runs
the dbt models before a step, the step, then the rest. Thin wiring over outflow.phones, outflow.identity_fuzzy
and outflow.person_map.
"""

import dagster as dg

from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from outflow.identity_fuzzy import clear_fuzzy, fuzzy_config, link_fuzzy
from outflow.person_map import resolve_person_map
from outflow.phones import normalize_emails, normalize_phones

PHONES_KEY = dg.AssetKey(["outflow_identity", "phones_e164"])
COUNTRIES_KEY = dg.AssetKey(["outflow_identity", "countries"])
EMAILS_KEY = dg.AssetKey(["outflow_identity", "emails"])
PERSON_MAP_KEY = dg.AssetKey(["outflow_identity", "person_map"])
CHANGES_KEY = dg.AssetKey(["outflow_identity", "identity_changes"])
CHANGED_IDENTIFIERS_KEY = dg.AssetKey(["outflow_identity", "changed_identifiers"])
FUZZY_KEY = dg.AssetKey(["outflow_identity", "fuzzy_links"])


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

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                PERSON_MAP_KEY,
                deps=[dg.AssetKey("int_identity__nodes"), dg.AssetKey("int_identity__edges")],
                owners=["team:analytics-engineering"],
                description="Identifier to person_id: shared values, strong links, conflict-aware weak links and "
                "overrides over the identity graph, ids kept stable and unique from run to run.",
            ),
            dg.AssetSpec(
                CHANGES_KEY,
                deps=[dg.AssetKey("int_identity__nodes"), dg.AssetKey("int_identity__edges")],
                owners=["team:analytics-engineering"],
                description="Every merge and split of persons, with its reason.",
            ),
            dg.AssetSpec(
                CHANGED_IDENTIFIERS_KEY,
                deps=[dg.AssetKey("int_identity__nodes"), dg.AssetKey("int_identity__edges")],
                owners=["team:analytics-engineering"],
                description="Identifiers whose person changed since int_identity__signature_persons last read them.",
            ),
        ],
        group_name="intermediate",
        pool=WAREHOUSE_POOL,
    )
    def person_map(warehouse: WarehouseResource):
        with warehouse.connect() as wh:
            identifiers = resolve_person_map(wh)
        yield dg.MaterializeResult(
            asset_key=PERSON_MAP_KEY, metadata={"identifiers": dg.MetadataValue.int(identifiers)}
        )
        yield dg.MaterializeResult(asset_key=CHANGES_KEY)
        yield dg.MaterializeResult(asset_key=CHANGED_IDENTIFIERS_KEY)

    @dg.asset(
        key=FUZZY_KEY,
        deps=[dg.AssetKey(k) for k in ("int_identity__nodes", "stg_crm__contacts", "stg_shop__orders")],
        group_name="intermediate",
        owners=["team:analytics-engineering"],
        pool=WAREHOUSE_POOL,
        description="The fuzzy identity stage (Splink): accepted CRM/order record pairs, and the review table; "
        "dropped when vars.identity_fuzzy.enabled is off.",
    )
    def fuzzy_links(warehouse: WarehouseResource) -> dg.MaterializeResult:
        config = fuzzy_config()
        with warehouse.connect() as wh:
            if not config.enabled:
                clear_fuzzy(wh)
                return dg.MaterializeResult(metadata={"enabled": False})
            result = link_fuzzy(wh, config)
        return dg.MaterializeResult(metadata={"accepted": result.accepted, "review": result.review})

    return dg.Definitions(assets=[phones_e164, emails, fuzzy_links, person_map])
