"""The fuzzy stage of identity resolution: CRM and order records that exact matching cannot join, linked with
Splink (probabilistic record linkage, Fellegi-Sunter).

It runs in `outflow build` after int_identity__nodes and before int_identity__edges, when switched on
(`vars.identity_fuzzy.enabled` in dbt_project.yml, or OUTFLOW_IDENTITY_FUZZY=on|off):

1. The records come from the warehouse through its interface (stg_crm__contacts, stg_shop__orders): first and
   last name, company, the local part of the normalized email and the phone; a blocked value (junk, role
   address, shared) counts as missing, so it is never evidence.
2. Splink scores the pairs that share a first and last name, or an email domain and the first three characters
   of the local part, on a private in-memory DuckDB (the same on every warehouse). Its u probabilities are
   estimated on a seeded random sample of the records; its m probabilities are set here, so a build is
   deterministic and works on a handful of records.
3. A pair at or above `match_probability` is accepted, unless one of its records also matches a record that
   the other candidates do not match (two namesakes at one company): such a record is ambiguous and all its
   pairs go to review. Pairs from `review_probability` up that are not accepted are the review table.
4. Accepted pairs go to outflow_identity.fuzzy_links, which int_identity__fuzzy_links turns into identifier
   edges for int_identity__edges; the rest to outflow_identity.fuzzy_review, with their match weights.

Nothing here imports Dagster; duckdb only through outflow.warehouse.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl
import yaml

from outflow import settings
from outflow.errors import OutflowError
from outflow.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "outflow_identity"
LINKS = f"{SCHEMA}.fuzzy_links"
REVIEW = f"{SCHEMA}.fuzzy_review"
ENV = "OUTFLOW_IDENTITY_FUZZY"
COMPARED = ("first_name", "last_name", "company", "email_local", "phone")
PAIR_COLUMNS = {
    "record_id_l": pl.String,
    "record_id_r": pl.String,
    "match_weight": pl.Float64,
    "match_probability": pl.Float64,
    **{f"{c}_{side}": pl.String for c in COMPARED for side in "lr"},
}

# Each record's compared values. A blocked identifier (int_identity__nodes.block_reason) is null: no evidence.
RECORDS_SQL = """
with usable as (
    select identifier_type, identifier_value from main.int_identity__nodes where block_reason is null
),
crm as (
    select 'crm:' || c.contact_id as record_id, lower(c.first_name) as first_name, lower(c.last_name) as last_name,
        lower(c.company) as company, e.identifier_value as email, p.identifier_value as phone
    from main.stg_crm__contacts as c
    left join usable as e on e.identifier_type = 'email' and e.identifier_value = c.email_canonical
    left join usable as p on p.identifier_type = 'phone'
        and p.identifier_value = c.phone_e164 || coalesce(';ext=' || c.phone_extension, '')
),
orders as (
    select 'order:' || o.order_id as record_id, cast(null as varchar) as first_name,
        cast(null as varchar) as last_name, cast(null as varchar) as company,
        e.identifier_value as email, p.identifier_value as phone
    from main.stg_shop__orders as o
    left join usable as e on e.identifier_type = 'email' and e.identifier_value = o.email_canonical
    left join usable as p on p.identifier_type = 'phone'
        and p.identifier_value = o.phone_e164 || coalesce(';ext=' || o.phone_extension, '')
)
select record_id, first_name, last_name, company,
    nullif(split_part(email, '@', 1), '') as email_local, nullif(split_part(email, '@', 2), '') as email_domain, phone
from (select * from crm union all select * from orders where email is not null or phone is not null) as records
order by record_id
"""


@dataclass(frozen=True)
class FuzzyConfig:
    enabled: bool = False
    match_probability: float = 0.95  # accept a pair at or above this
    review_probability: float = 0.5  # below the match threshold, keep pairs from here up for review
    prior: float = 0.0001  # probability that two random records are the same person
    seed: int = 42


@dataclass(frozen=True)
class FuzzyResult:
    records: int
    scored: int  # pairs at or above the review threshold
    accepted: int
    review: int


def fuzzy_config(project_yml: Path | None = None) -> FuzzyConfig:
    """`vars.identity_fuzzy` of dbt_project.yml; OUTFLOW_IDENTITY_FUZZY=on|off overrides `enabled`."""
    path = project_yml or settings.DBT_PROJECT_DIR / "dbt_project.yml"
    raw = ((yaml.safe_load(path.read_text()) or {}).get("vars") or {}).get("identity_fuzzy") or {}
    try:
        config = FuzzyConfig(
            enabled=bool(raw.get("enabled", False)),
            match_probability=float(raw.get("match_probability", FuzzyConfig.match_probability)),
            review_probability=float(raw.get("review_probability", FuzzyConfig.review_probability)),
            prior=float(raw.get("prior", FuzzyConfig.prior)),
        )
    except (TypeError, ValueError, AttributeError):
        raise OutflowError(
            f"{path}: vars.identity_fuzzy needs enabled (true/false) and match_probability, review_probability, "
            "prior (numbers between 0 and 1)"
        ) from None
    if not (0 < config.review_probability <= config.match_probability < 1 and 0 < config.prior < 1):
        raise OutflowError(
            f"{path}: vars.identity_fuzzy needs 0 < review_probability <= match_probability < 1 and 0 < prior < 1"
        )
    env = os.environ.get(ENV, "").strip().lower()
    if env:
        if env not in ("on", "off", "1", "0", "true", "false"):
            raise OutflowError(f"{ENV}={env[:20]!r}: use on or off")
        config = replace(config, enabled=env in ("on", "1", "true"))
    return config


def _settings(config: FuzzyConfig):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    def name(col: str, m: list[float]):
        return cl.JaroWinklerAtThresholds(col, [0.92]).configure(m_probabilities=m)

    # a one-character typo keeps the digits: ann.smith1 and ann.smith2 are two accounts, ann.smiht1 is a typo
    digits = "regexp_replace({}, '[^0-9]', '', 'g')"
    email = cl.CustomComparison(
        output_column_name="email_local",
        comparison_levels=[
            cll.NullLevel("email_local"),
            cll.ExactMatchLevel("email_local"),
            cll.CustomLevel(
                "damerau_levenshtein(email_local_l, email_local_r) <= 1 and "
                f"{digits.format('email_local_l')} = {digits.format('email_local_r')}",
                label_for_charts="one-character typo",
            ),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.75, 0.2, 0.05])
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        probability_two_random_records_match=config.prior,
        comparisons=[
            name("first_name", [0.9, 0.05, 0.05]),
            name("last_name", [0.9, 0.07, 0.03]),
            cl.ExactMatch("company").configure(m_probabilities=[0.8, 0.2]),
            email,
            cl.ExactMatch("phone").configure(m_probabilities=[0.95, 0.05]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "last_name"),
            block_on("email_domain", "substr(email_local, 1, 3)"),
        ],
    )


def score_pairs(records: pl.DataFrame, config: FuzzyConfig) -> pl.DataFrame:
    """Splink's scored pairs (PAIR_COLUMNS) at or above the review threshold, on a private in-memory DuckDB."""
    if records.height < 2:
        return pl.DataFrame(schema=PAIR_COLUMNS)
    from splink import Linker
    from splink.backends.duckdb import DuckDBAPI

    from outflow.warehouse import local_engine

    logging.getLogger("splink").setLevel(logging.ERROR)  # its notes on defaults are about models it trains itself
    with local_engine() as engine:
        api = DuckDBAPI(connection=engine.splink_connection())
        linker = Linker(api.register(records.to_arrow(), table_name="fuzzy_records"), _settings(config), log_level=None)
        # u: how often two different people agree by chance, from a seeded sample of the records
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=config.seed, min_count_per_level=None)
        predicted = linker.inference.predict(threshold_match_probability=config.review_probability)
        pairs = engine.fetch_polars(f"select * from {predicted.physical_name}")
    return pairs.select(*(pl.col(c).cast(t) for c, t in PAIR_COLUMNS.items())).sort("record_id_l", "record_id_r")


def decide(pairs: pl.DataFrame, config: FuzzyConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split scored pairs into accepted links and the review table (with a reason)."""
    strong = pairs.filter(pl.col("match_probability") >= config.match_probability)
    ends = pl.concat(
        [
            strong.select(pl.col("record_id_l").alias("r"), pl.col("record_id_r").alias("s")),
            strong.select(pl.col("record_id_r").alias("r"), pl.col("record_id_l").alias("s")),
        ]
    )
    # a record whose matches do not all match each other is ambiguous: its pairs go to review
    partner_pairs = ends.join(ends, on="r").filter(pl.col("s") < pl.col("s_right"))
    unmatched = partner_pairs.join(
        strong.select(pl.col("record_id_l").alias("s"), pl.col("record_id_r").alias("s_right")),
        on=["s", "s_right"],
        how="anti",
    )
    ambiguous = unmatched["r"].unique().implode()
    is_ambiguous = pl.col("record_id_l").is_in(ambiguous) | pl.col("record_id_r").is_in(ambiguous)
    accepted = strong.filter(~is_ambiguous)
    review = pairs.join(accepted, on=["record_id_l", "record_id_r"], how="anti").with_columns(
        reason=pl.when(pl.col("match_probability") < config.match_probability)
        .then(pl.lit("below the match threshold"))
        .otherwise(pl.lit("ambiguous: a record of the pair also matches someone the other does not"))
    )
    return accepted, review.sort("match_weight", "record_id_l", "record_id_r", descending=[True, False, False])


def link_fuzzy(wh: Warehouse, config: FuzzyConfig | None = None) -> FuzzyResult:
    """Score the CRM and order records, write the accepted links and the review table; return the counts."""
    config = config or fuzzy_config()
    records = wh.fetch_polars(RECORDS_SQL)
    pairs = score_pairs(records, config)
    accepted, review = decide(pairs, config)
    wh.create_schema(SCHEMA)
    with wh.transaction():
        wh.write_arrow(LINKS, accepted.to_arrow(), mode="replace")
        wh.write_arrow(REVIEW, review.to_arrow(), mode="replace")
    log.info("fuzzy identity: %d records, %d links accepted, %d pairs to review", records.height, accepted.height,
             review.height)  # fmt: skip
    return FuzzyResult(records.height, pairs.height, accepted.height, review.height)


def clear_fuzzy(wh: Warehouse) -> None:
    """Switched off: no fuzzy links (int_identity__fuzzy_links is empty when its source is missing)."""
    for table in (LINKS, REVIEW):
        if wh.table_exists(SCHEMA, table.split(".")[1]):
            wh.execute(f"drop table {table}")
