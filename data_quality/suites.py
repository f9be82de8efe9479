"""The quality suites, as code: what is checked on raw data, on profiles and on activation models.

Each check is one Great Expectations expectation (its GX type name and kwargs, as in a GX suite's JSON)
evaluated on a *frame*: a SQL query over the warehouse whose result GX validates. Checks that share a
frame are validated together as one GX suite. Nothing here imports Great Expectations or Dagster: the
runner (``data_quality.runner``) turns these specs into GX objects.

A rule lives in one place: a check whose ``rule`` (relation, column, kind) is already a dbt test in
``dbt_project/`` is left out and reported as "tested by dbt" (see ``data_quality.dbt_rules``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from data_quality.config import Channel, QualityConfig, Severity
from data_quality.dbt_rules import model_meta
from data_quality.warehouse import columns, quote, split_relation
from outflow.contract import TABLES
from outflow.warehouse import Warehouse

# A deliberately plain address check: one @, no spaces, a dot in the domain, a 2+ letter TLD.
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
# E.164: a plus, a non-zero country digit, 7 to 15 digits in all.
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"

# the column whose latest value says how fresh a raw table is
FRESHNESS_COLUMN = {
    "crm_contacts": "updated_at",
    "web_events": "received_at",
    "email_events": "occurred_at",
    "orders": "ordered_at",
    "consent_events": "occurred_at",
    "erasure_requests": "requested_at",
}
# set by the pipeline on arrival, not by a source's clock: "not in the future" does not apply
WAREHOUSE_CLOCK_COLUMNS = {"received_at"}
# accepted-values rules that guard consent and erasure are blocking; the others warn
BLOCKING_ACCEPTED = {"consent_events", "erasure_requests"}

PROFILE_ASSET = "dim_profiles"
PROFILES_RELATION = "main.dim_profiles"


@dataclass(frozen=True)
class CheckSpec:
    """One check: a GX expectation on a frame of one asset."""

    asset: str  # "raw.orders", "dim_profiles", "sync_newsletter"
    name: str  # unique within the asset, e.g. "order_id_not_null"
    severity: Severity
    description: str
    expectation: str  # GX expectation type, e.g. "expect_column_values_to_not_be_null"
    kwargs: dict[str, Any] = field(default_factory=dict)
    frame: str = ""  # SQL; the rows GX validates
    rule: tuple[str, str, str] | None = None  # (relation, column, kind) for the dbt overlap rule
    skip: str | None = None  # why the check is not applicable here
    records_baseline: bool = False  # the row-count check: store the count when it passes

    @property
    def check_id(self) -> str:
        return f"{self.asset}:{self.name}"


def asset_relation(asset: str) -> str:
    """The warehouse relation behind an asset name."""
    if asset.startswith("raw."):
        return asset
    return f"main.{asset}"


def _frame(relation: str, cols: list[str], types: dict[str, str]) -> str:
    parts = []
    for c in cols:
        if c not in types:
            continue
        if types.get(c, "").upper().startswith("TIMESTAMP") and "TIME ZONE" in types.get(c, "").upper():
            parts.append(f'cast("{c}" as timestamp) as "{c}"')
        else:
            parts.append(f'"{c}"')
    return f"select {', '.join(parts) or '*'} from {quote(relation)}"


# ---------------------------------------------------------------------------------------------- raw


def raw_suite(con: Warehouse, table: str, cfg: QualityConfig, now: dt.datetime) -> list[CheckSpec]:
    """Schema, keys, required columns, accepted values, no future timestamps, freshness."""
    t = TABLES[table]
    asset = f"raw.{table}"
    types = columns(con, asset)
    missing = [c for c in t.column_names if c not in types]
    frame = _frame(asset, t.column_names, types)
    out: list[CheckSpec] = [
        CheckSpec(
            asset,
            "schema",
            Severity.BLOCKING,
            f"every contract column of raw.{table} is present",
            "expect_table_columns_to_match_set",
            {"column_set": t.column_names, "exact_match": False},
            frame,
        )
    ]

    def col_check(col: str, **kw: Any) -> CheckSpec:
        spec = CheckSpec(asset=asset, frame=frame, **kw)
        if col in missing:
            return replace(spec, skip=f"column {col} is missing (see the schema check)")
        return spec

    out.append(
        col_check(
            t.key,
            name=f"{t.key}_not_null",
            severity=Severity.BLOCKING,
            description=f"the key {t.key} is never null",
            expectation="expect_column_values_to_not_be_null",
            kwargs={"column": t.key},
            rule=(asset, t.key, "not_null"),
        )
    )
    out.append(
        col_check(
            t.key,
            name=f"{t.key}_unique",
            severity=Severity.BLOCKING,
            description=f"the key {t.key} is unique",
            expectation="expect_column_values_to_be_unique",
            kwargs={"column": t.key},
            rule=(asset, t.key, "unique"),
        )
    )
    max_ts = now + dt.timedelta(minutes=cfg.future_skew_minutes)
    for c in t.columns:
        if c.required and c.name != t.key:
            out.append(
                col_check(
                    c.name,
                    name=f"{c.name}_not_null",
                    severity=Severity.BLOCKING,
                    description=f"the required column {c.name} is never null",
                    expectation="expect_column_values_to_not_be_null",
                    kwargs={"column": c.name},
                    rule=(asset, c.name, "not_null"),
                )
            )
        if c.accepted:
            out.append(
                col_check(
                    c.name,
                    name=f"{c.name}_accepted_values",
                    severity=Severity.BLOCKING if table in BLOCKING_ACCEPTED else Severity.WARN,
                    description=f"{c.name} is one of {', '.join(c.accepted)}",
                    expectation="expect_column_values_to_be_in_set",
                    kwargs={"column": c.name, "value_set": list(c.accepted)},
                    rule=(asset, c.name, "accepted_values"),
                )
            )
        if c.type == "timestamp" and c.name not in WAREHOUSE_CLOCK_COLUMNS:
            out.append(
                col_check(
                    c.name,
                    name=f"{c.name}_not_in_future",
                    severity=Severity.WARN,
                    description=f"{c.name} is not later than now (+{cfg.future_skew_minutes:g} min skew)",
                    expectation="expect_column_values_to_be_between",
                    kwargs={"column": c.name, "max_value": max_ts},
                )
            )
    fresh_col = FRESHNESS_COLUMN.get(table)
    max_age = cfg.freshness_hours.get(table)
    if fresh_col:
        spec = col_check(
            fresh_col,
            name="freshness",
            severity=Severity.WARN,
            description=f"the latest {fresh_col} is at most {max_age:g} h old" if max_age else "freshness",
            expectation="expect_column_max_to_be_between",
            kwargs={"column": fresh_col, "min_value": now - dt.timedelta(hours=max_age or 0)},
        )
        if not max_age:
            spec = replace(spec, skip=f"no freshness limit configured for {table} (freshness_hours)")
        out.append(spec)
    return out


# ----------------------------------------------------------------------------------------- profiles


def profile_suite(con: Warehouse, cfg: QualityConfig) -> list[CheckSpec]:
    """Identity sanity and survivorship on the golden record."""
    asset = PROFILE_ASSET
    prof = columns(con, PROFILES_RELATION)
    ident = columns(con, cfg.identity_table)
    out: list[CheckSpec] = []

    cluster_frame = (
        f"select person_id, count(*) as identifier_count from {quote(cfg.identity_table)} "
        "where person_id is not null group by person_id"
    )
    out.append(
        CheckSpec(
            asset,
            "largest_cluster",
            Severity.BLOCKING,
            f"no person gathers more than {cfg.max_cluster_identifiers} identifiers (over-merging guard)",
            "expect_column_max_to_be_between",
            {"column": "identifier_count", "max_value": cfg.max_cluster_identifiers},
            cluster_frame,
            skip=None if "person_id" in ident else f"{cfg.identity_table} is absent",
        )
    )
    out.append(
        CheckSpec(
            asset,
            "identifiers_per_person",
            Severity.WARN,
            f"on average a person has between 1 and {cfg.max_mean_identifiers_per_person:g} identifiers",
            "expect_column_mean_to_be_between",
            {"column": "identifier_count", "min_value": 1, "max_value": cfg.max_mean_identifiers_per_person},
            cluster_frame,
            skip=None if "person_id" in ident else f"{cfg.identity_table} is absent",
        )
    )
    contact = [c for c in ("email", "phone") if c in prof]
    has_contact = " or ".join(f"{c} is not null" for c in contact) or "false"
    out.append(
        CheckSpec(
            asset,
            "share_without_contact_point",
            Severity.WARN,
            f"at most {cfg.max_share_without_contact:.0%} of profiles have neither email nor phone",
            "expect_column_values_to_be_in_set",
            {"column": "has_contact_point", "value_set": [True], "mostly": 1 - cfg.max_share_without_contact},
            f"select person_id, ({has_contact}) as has_contact_point from {quote(PROFILES_RELATION)}",
            skip=None if prof else f"{PROFILES_RELATION} is absent",
        )
    )
    out.extend(_survivorship_checks(con, cfg, prof, ident))
    return out


CANDIDATES_RELATION = "main.int_profiles__attribute_candidates"


def _survivorship_checks(
    con: Warehouse, cfg: QualityConfig, prof: dict[str, str], ident: dict[str, str]
) -> list[CheckSpec]:
    """A field that some source offers for the person is filled in the golden record.

    With the project's survivorship candidates (``int_profiles__attribute_candidates``: every value a
    source offers for a golden-record field) the check is exact: survivorship must never drop a field
    that has a candidate. Without that model it falls back to the sources themselves: an email/phone
    identifier of the person, or the person's CRM record carrying the field.
    """
    out: list[CheckSpec] = []
    cand = columns(con, CANDIDATES_RELATION)
    crm = columns(con, "main.stg_crm__contacts")
    for f in cfg.survivorship_fields:
        name = f"survivorship_{f}_filled"
        desc = f"{f} is filled whenever a source offers a value for the person"
        base = CheckSpec(PROFILE_ASSET, name, Severity.WARN, desc, "expect_column_values_to_be_in_set")
        if f not in prof:
            out.append(replace(base, skip=f"dim_profiles has no column {f}"))
            continue
        if {"person_id", "field", "value"} <= set(cand):
            source = (
                f"exists (select 1 from {quote(CANDIDATES_RELATION)} c where c.person_id = p.person_id "
                f"and c.field = '{f}' and c.value is not null)"
            )
        elif f in ("email", "phone") and ident:
            usable = "".join(
                cond
                for col, cond in (
                    ("is_shared", " and not coalesce(i.is_shared, false)"),
                    ("block_reason", " and i.block_reason is null"),
                )
                if col in ident
            )
            source = (
                f"exists (select 1 from {quote(cfg.identity_table)} i where i.person_id = p.person_id "
                f"and i.identifier_type = '{f}'{usable})"
            )
        elif f in crm and "crm_id" in prof:
            key = TABLES["crm_contacts"].key
            source = (
                f"exists (select 1 from {quote('main.stg_crm__contacts')} c "
                f'where c."{key}" = p.crm_id and c."{f}" is not null)'
            )
        else:
            out.append(replace(base, skip=f"no source relation for {f} found"))
            continue
        out.append(
            replace(
                base,
                kwargs={"column": "kept", "value_set": [True]},
                frame=f'select p.person_id, p."{f}", (p."{f}" is not null) as kept '
                f"from {quote(PROFILES_RELATION)} p where {source}",
            )
        )
    return out


# -------------------------------------------------------------------------------------- activation


def channel_of(model: str, cols: dict[str, str], cfg: QualityConfig) -> Channel | None:
    """The one channel of an activation model: config ``channels``, else the model's dbt ``meta.channel``,
    else a token of its name (sync_hot_leads_email). None when unknown (a per-row ``channel`` column,
    as trigger models have, is used by the consent check instead)."""
    if model in cfg.channels:
        return cfg.channels[model]
    meta = model_meta().get(model, {})
    if str(meta.get("channel", "")) in {c.value for c in Channel}:
        return Channel(str(meta["channel"]))
    tokens = model.removeprefix("sync_").split("_")
    for ch in Channel:
        if ch.value in tokens:
            return ch
    return None


def activation_suite(con: Warehouse, model: str, cfg: QualityConfig, previous_count: int | None) -> list[CheckSpec]:
    """Before a sync: valid contact points for the channel, consent, no erased person, row-count band."""
    relation = f"main.{model}"
    cols = columns(con, relation)
    if not cols:
        from data_quality.errors import QualityError

        raise QualityError(f"activation model {relation} is not in the warehouse (run dbt build first)")
    key = cfg.keys.get(model) or next(
        (c for c in ("idempotency_key", "trigger_id") if c in cols and model.startswith("trg_")),
        "person_id" if "person_id" in cols else next(iter(cols)),
    )
    has_channel_col = "channel" in cols
    channel = channel_of(model, cols, cfg)
    ident_cols = [c for c in (key, "email", "phone", "channel") if c in cols]
    ident_cols = list(dict.fromkeys(ident_cols))
    base = _frame(relation, ident_cols, cols)
    out: list[CheckSpec] = [
        CheckSpec(
            model,
            "key_not_null",
            Severity.BLOCKING,
            f"the key {key} is never null",
            "expect_column_values_to_not_be_null",
            {"column": key},
            base,
            rule=(relation, key, "not_null"),
        ),
        CheckSpec(
            model,
            "key_unique",
            Severity.BLOCKING,
            f"the key {key} is unique",
            "expect_column_values_to_be_unique",
            {"column": key},
            base,
            rule=(relation, key, "unique"),
        ),
    ]

    # contact points valid for the channel
    for col, regex, needed_by in (("email", EMAIL_REGEX, Channel.EMAIL), ("phone", E164_REGEX, Channel.SMS)):
        label = "a valid address" if col == "email" else "an E.164 number"
        if col not in cols:
            spec = CheckSpec(
                model,
                f"{col}_valid",
                Severity.BLOCKING,
                f"every {col} is {label}",
                "expect_column_values_to_match_regex",
                skip=f"{model} has no {col} column",
            )
            if channel == needed_by:  # an email audience without an email column cannot be synced
                spec = replace(
                    spec,
                    skip=None,
                    expectation="expect_table_columns_to_match_set",
                    kwargs={"column_set": [col], "exact_match": False},
                    frame=base,
                    description=f"a {channel.value} audience has a {col} column",
                )
            out.append(spec)
            continue
        out.append(
            CheckSpec(
                model,
                f"{col}_valid",
                Severity.BLOCKING,
                f"every {col} is {label}",
                "expect_column_values_to_match_regex",
                {"column": col, "regex": regex},
                base,
                rule=(relation, col, "valid"),
            )
        )
        if channel == needed_by or (has_channel_col and col == "email"):
            cond = "true" if channel == needed_by else f"channel = '{needed_by.value}'"
            out.append(
                CheckSpec(
                    model,
                    f"{col}_present",
                    Severity.BLOCKING,
                    f"every row sent to the {needed_by.value} channel has a {col}",
                    "expect_column_values_to_not_be_null",
                    {"column": col},
                    _frame(relation, ident_cols, cols) + f" where {cond}",
                    rule=(relation, col, "not_null"),
                )
            )
    out.append(_consent_check(con, model, relation, cols, key, channel, cfg))
    out.append(_erasure_check(con, model, relation, cols, key, cfg))

    # row-count change vs the previous accepted run
    band_desc = f"the row count is within ±{cfg.row_count_band:.0%} (+{cfg.row_count_slack} rows) of the previous run"
    if model.startswith("trg_"):
        out.append(
            CheckSpec(
                model,
                "row_count_change",
                Severity.BLOCKING,
                band_desc,
                "expect_table_row_count_to_be_between",
                skip="not applicable: trigger models fire per event, their size is not a baseline",
            )
        )
    elif previous_count is None:
        out.append(
            CheckSpec(
                model,
                "row_count_change",
                Severity.BLOCKING,
                band_desc,
                "expect_table_row_count_to_be_between",
                {"min_value": 0},
                f"select {quote_col(key)} from {quote(relation)}",
                records_baseline=True,
            )
        )
    else:
        lo = max(0, int(previous_count * (1 - cfg.row_count_band)) - cfg.row_count_slack)
        hi = int(previous_count * (1 + cfg.row_count_band) + 0.999999) + cfg.row_count_slack
        out.append(
            CheckSpec(
                model,
                "row_count_change",
                Severity.BLOCKING,
                band_desc + f" ({previous_count} rows)",
                "expect_table_row_count_to_be_between",
                {"min_value": lo, "max_value": hi},
                f"select {quote_col(key)} from {quote(relation)}",
                records_baseline=True,
            )
        )
    return out


def _select_list(key: str, cols: dict[str, str]) -> str:
    keep = dict.fromkeys([key, *(c for c in ("person_id", "email", "phone", "channel", "purpose") if c in cols)])
    return ", ".join(f"s.{quote_col(c)}" for c in keep)


def quote_col(c: str) -> str:
    return '"' + c.replace('"', '""') + '"'


@dataclass(frozen=True)
class Membership:
    """A set-based test that a row's person is in a set: LEFT JOINs (to append after ``from <model> s``) to
    distinct, pre-filtered sets, one per way to match, and ``flag``, a boolean over them (never null).

    No correlated subquery: every engine plans each join once, as a hash join, so the cost grows with the
    model and the sets, not their product (a correlated EXISTS over a view is a nested loop on PostgreSQL)."""

    joins: tuple[str, ...]
    flag: str

    def source(self, relation: str, alias: str = "s") -> str:
        return " ".join([f"{relation} {alias}", *self.joins])


def _member_of(
    alias: str,
    cols: dict[str, str],
    ident_table: str,
    relation: str,
    *,
    name: str,
    by_person: bool,
    where: str | None = None,
    value: str = "identifier_value",
    on: dict[str, str] | None = None,
) -> Membership:
    """Whether the row ``alias`` (columns ``cols``) matches a row of ``relation`` (alias ``x`` in ``where``):
    by ``person_id`` when ``by_person``, else by identifier (``identifier_type`` and ``value``), matched to the
    row's person through ``ident_table``, its email (lowercased, trimmed) or its phone. ``on`` adds equalities
    (set column → SQL over the row, e.g. the channel). ``name`` prefixes the join aliases."""
    on = on or {}
    rel = quote(relation)
    routes: list[tuple[str, str, str, str]] = []  # (set key, from, condition, the row's value)
    if by_person:
        routes.append(("x.person_id", f"{rel} x", "x.person_id is not null", f"{alias}.person_id"))
    else:
        val = f"x.{quote_col(value)}"
        if "person_id" in cols:
            ident = (
                f"{rel} x join {quote(ident_table)} i "
                f"on i.identifier_type = x.identifier_type and i.identifier_value = {val}"
            )
            routes.append(("i.person_id", ident, "i.person_id is not null", f"{alias}.person_id"))
        if "email" in cols:
            routes.append((val, f"{rel} x", "x.identifier_type = 'email'", f"lower(trim({alias}.email))"))
        if "phone" in cols:
            routes.append((val, f"{rel} x", "x.identifier_type = 'phone'", f"{alias}.phone"))
    extra = "".join(f", x.{quote_col(c)}" for c in on)
    cond_extra = f" and ({where})" if where else ""
    joins, flags = [], []
    for n, (key, src, cond, row) in enumerate(routes):
        a = f"{name}{n}"
        eqs = " and ".join([f"{a}._k = {row}", *(f"{a}.{quote_col(c)} = {e}" for c, e in on.items())])
        joins.append(f"left join (select distinct {key} as _k{extra} from {src} where {cond}{cond_extra}) {a} on {eqs}")
        flags.append(f"{a}._k is not null")
    return Membership(tuple(joins), "(" + " or ".join(flags) + ")" if flags else "false")


def _consent_check(
    con: Warehouse,
    model: str,
    relation: str,
    cols: dict[str, str],
    key: str,
    channel: Channel | None,
    cfg: QualityConfig,
) -> CheckSpec:
    spec = CheckSpec(
        model,
        "consent",
        Severity.BLOCKING,
        "every person has consent for the channel and purpose in the consent ledger",
        "expect_column_values_to_be_in_set",
        {"column": "has_consent", "value_set": [True]},
    )
    ledger = cfg.consent_table
    if not ledger:
        return replace(spec, skip="not applicable: no consent ledger configured (consent_table)")
    lcols = columns(con, ledger)
    if not lcols:
        return replace(spec, skip=f"not applicable: consent ledger {ledger} is absent")
    purpose = str(model_meta().get(model, {}).get("purpose", "")) or None
    if model in cfg.transactional_models or purpose == "transactional":
        return replace(spec, skip="not applicable: transactional messages are consent-exempt")
    if "channel" in cols and model not in cfg.channels:
        chan = "s.channel"  # per row (trigger models)
    elif channel is not None:
        chan = f"'{channel.value}'"
    else:
        return replace(
            spec,
            skip=None,
            expectation="expect_table_columns_to_match_set",
            kwargs={"column_set": ["channel"], "exact_match": False},
            frame=f"select * from {quote(relation)} limit 0",
            description="the model's channel is known (config 'channels', dbt meta, name or column)",
        )
    if "purpose" in cols:  # per row: transactional rows are exempt
        purp, exempt = "s.purpose", "s.purpose = 'transactional' or "
    else:
        purp, exempt = f"'{purpose or cfg.consent_purpose}'", ""
    granted = _ledger_grant(lcols, ledger, "s", cols, chan, purp, cfg)
    sel = _select_list(key, cols)
    return replace(
        spec,
        description=f"every person has consent for the channel and purpose ({purp.strip(chr(39))}) in {ledger}",
        frame=f"select {sel}, ({exempt}{granted.flag}) as has_consent from {granted.source(quote(relation))}",
    )


def _ledger_grant(
    lcols: dict[str, str],
    ledger: str,
    alias: str,
    cols: dict[str, str],
    chan: str,
    purpose: str,
    cfg: QualityConfig,
) -> Membership:
    """The ledger grants consent for the row's person on the channel (set-based, see ``Membership``).

    Works with a ledger keyed by person (``person_id``) or by identifier (``identifier_type``,
    ``identifier_value``), holding either a ``status`` ('granted'/'revoked') or a boolean
    ``is_granted``/``has_consent``/``consented`` column.
    """
    flag = next((c for c in ("is_granted", "has_consent", "consented", "granted") if c in lcols), None)
    if flag:
        ok = f"x.{quote_col(flag)}"
    elif "status" in lcols:
        ok = "x.status = 'granted'"
    else:
        ok = None
    on = {c: e for c, e in (("channel", chan), ("purpose", purpose)) if c in lcols}
    if "person_id" in lcols and "person_id" in cols:
        by_person = True
    elif {"identifier_type", "identifier_value"} <= set(lcols):
        by_person = False
    else:
        return Membership((), "false")
    return _member_of(alias, cols, cfg.identity_table, ledger, name="c", by_person=by_person, where=ok, on=on)


def erasure_match(
    alias: str,
    cols: dict[str, str],
    ecols: dict[str, str],
    table: str,
    cfg: QualityConfig,
    *,
    model_has_person: bool | None = None,
) -> Membership:
    """The row's person has a request in the erasure table (keyed by person, or by identifier).
    ``model_has_person``: the model has a ``person_id`` (default: it is in ``cols``)."""
    has_person = "person_id" in cols if model_has_person is None else model_has_person
    by_person = "person_id" in ecols and has_person
    value = "identifier_value" if "identifier_value" in ecols else "identifier"
    return _member_of(alias, cols, cfg.identity_table, table, name="e", by_person=by_person, value=value)


def _erasure_check(
    con: Warehouse,
    model: str,
    relation: str,
    cols: dict[str, str],
    key: str,
    cfg: QualityConfig,
) -> CheckSpec:
    spec = CheckSpec(
        model,
        "no_erased_person",
        Severity.BLOCKING,
        "no person with an erasure request is in the model",
        "expect_column_values_to_be_in_set",
        {"column": "is_erased", "value_set": [False]},
    )
    table = cfg.erasure_table
    if not table:
        return replace(spec, skip="not applicable: no erasure table configured (erasure_table)")
    ecols = columns(con, table)
    if not ecols:
        return replace(spec, skip=f"not applicable: erasure table {table} is absent")
    erased = erasure_match("s", cols, ecols, table, cfg)
    sel = _select_list(key, cols)
    return replace(spec, frame=f"select {sel}, {erased.flag} as is_erased from {erased.source(quote(relation))}")


# ------------------------------------------------------------------------------------------- names


def schema_of(asset: str) -> str:
    return split_relation(asset_relation(asset))[0]
