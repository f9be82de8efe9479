"""Warehouse-side diff, built with sqlglot.

One set-based query compares the source model with the last acknowledged state of the sync, by primary key
and a hash of the mapped columns only, and yields the rows to add, change or remove plus the invalid rows.
Only that (small) result is materialised; the audience itself never leaves the warehouse.
"""

from __future__ import annotations

from sqlglot import exp

from activations.config import Mode, SyncConfig
from activations.state import SCHEMA

# A deliberately simple, destination-agnostic shape check: one @, something before it, a dot in the domain,
# no whitespace. Stricter destination rules belong to the destination.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

OPS_BY_MODE: dict[Mode, tuple[str, ...]] = {
    Mode.upsert: ("add", "change"),
    Mode.update: ("add", "change"),
    Mode.insert: ("add",),
    Mode.mirror: ("add", "change", "remove"),
}


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _str(v: str) -> exp.Literal:
    return exp.Literal.string(v)


def row_hash_expr(columns: list[str], dialect: str) -> exp.Expression:
    """A hash of the mapped columns. DuckDB's native multi-argument hash (fast, null-aware); elsewhere MD5."""
    if dialect == "duckdb":
        return exp.Anonymous(this="hash", expressions=[_col(c) for c in columns])
    parts = [exp.Coalesce(this=exp.cast(_col(c), "varchar"), expressions=[_str("\u0000")]) for c in columns]
    return exp.MD5(this=exp.func("CONCAT_WS", _str("\u001f"), *parts))


def mapped_alias(i: int) -> str:
    return f"c{i}"


def build_diff_sql(cfg: SyncConfig, *, dialect: str = "duckdb", source_schema: str = "main") -> str:
    """SELECT of (_key, _op, _hash, _reason, c0..cN) for every row to send and every invalid row."""
    cols = list(cfg.fields)
    pk = _col(cfg.primary_key)

    reasons: list[tuple[exp.Expression, str]] = [(exp.Is(this=pk, expression=exp.Null()), "null_key")]
    for c in cfg.checked_email_columns:
        bad = exp.and_(
            exp.Not(this=exp.Is(this=_col(c), expression=exp.Null())),
            exp.Not(this=exp.RegexpLike(this=exp.cast(_col(c), "varchar"), expression=_str(EMAIL_PATTERN))),
        )
        reasons.append((bad, f"invalid_email:{c}"))
    case = exp.Case()
    for cond, why in reasons:
        case = case.when(cond, _str(why))

    src = exp.select(
        exp.alias_(exp.cast(pk, "varchar"), "_key"),
        exp.alias_(row_hash_expr(cols, dialect), "_hash"),
        exp.alias_(case, "_reason"),
        exp.alias_(exp.true(), "_present"),
        *[exp.alias_(_col(c), mapped_alias(i)) for i, c in enumerate(cols)],
    ).from_(exp.table_(cfg.source, db=source_schema, quoted=True))

    dup = (
        exp.select("_key")
        .from_("src")
        .where(exp.Not(this=exp.Is(this=exp.column("_key"), expression=exp.Null())))
        .group_by("_key")
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )
    checked = (
        exp.select(
            *[exp.column(c, "src") for c in ["_key", "_hash", "_present"]],
            *[exp.column(mapped_alias(i), "src") for i in range(len(cols))],
            exp.alias_(
                exp.Case()
                .when(
                    exp.Not(this=exp.Is(this=exp.column("_key", "dup"), expression=exp.Null())),
                    _str("duplicate_key"),
                )
                .else_(exp.column("_reason", "src")),
                "_reason",
            ),
        )
        .from_("src")
        .join(
            "dup",
            on=exp.EQ(this=exp.column("_key", "src"), expression=exp.column("_key", "dup")),
            join_type="left",
        )
    )
    state = (
        exp.select(exp.column("key"), exp.column("row_hash"))
        .from_(exp.table_("sync_state", db=SCHEMA))
        .where(exp.EQ(this=exp.column("sync_name"), expression=_str(cfg.name)))
    )

    s_key, st_key = exp.column("_key", "s"), exp.column("key", "st")
    is_null = lambda e: exp.Is(this=e, expression=exp.Null())  # noqa: E731
    not_null = lambda e: exp.Not(this=is_null(e))  # noqa: E731
    op = (
        exp.Case()
        .when(not_null(exp.column("_reason", "s")), _str("invalid"))
        .when(is_null(st_key), _str("add"))
        .when(is_null(exp.column("_present", "s")), _str("remove"))
        .else_(_str("change"))
    )
    wanted = OPS_BY_MODE[cfg.mode]
    conds = [not_null(exp.column("_reason", "s"))]
    if "add" in wanted:
        conds.append(is_null(st_key))
    if "remove" in wanted:
        conds.append(is_null(exp.column("_present", "s")))
    if "change" in wanted:
        conds.append(
            exp.and_(
                not_null(s_key),
                not_null(st_key),
                exp.NEQ(this=exp.column("_hash", "s"), expression=exp.column("row_hash", "st")),
            )
        )
    final = (
        exp.select(
            exp.alias_(exp.Coalesce(this=s_key, expressions=[st_key]), "_key"),
            exp.alias_(op, "_op"),
            exp.column("_hash", "s"),
            exp.column("_reason", "s"),
            *[exp.column(mapped_alias(i), "s") for i in range(len(cols))],
        )
        .from_("s")
        .join("st", on=exp.EQ(this=s_key, expression=st_key), join_type="full outer")
        .where(exp.or_(*conds))
        .with_("src", as_=src)
        .with_("dup", as_=dup)
        .with_("s", as_=checked)
        .with_("st", as_=state)
    )
    return final.sql(dialect=dialect)


def build_source_columns_sql(cfg: SyncConfig, *, source_schema: str = "main") -> tuple[str, list[str]]:
    """Query listing the source model's columns (information_schema), and the columns the sync needs."""
    sql = (
        exp.select("column_name")
        .from_(exp.table_("columns", db="information_schema"))
        .where(
            exp.and_(
                exp.EQ(this=exp.column("table_schema"), expression=_str(source_schema)),
                exp.EQ(this=exp.column("table_name"), expression=_str(cfg.source)),
            )
        )
        .sql(dialect="duckdb")
    )
    return sql, [cfg.primary_key, *cfg.fields]
