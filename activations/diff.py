"""Warehouse-side diff, built with sqlglot.

One set-based query compares the source model with the last acknowledged state of the sync, by primary key
and a hash of the mapped columns only, and yields the rows to add, change or remove plus the invalid rows.
Only that (small) result is materialised; the audience itself never leaves the warehouse.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from activations.config import Mode, SyncConfig
from activations.hashing import SHA256_PATTERN
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


HASH_HEX_DIGITS = 15
"""The row hash is the first 15 hex digits (60 bits) of the MD5 of the mapped columns' text: a non-negative
BIGINT, computed the same way on every engine (DuckDB's native ``hash()`` is a UBIGINT that PostgreSQL has
neither as a function nor as a type, and may change with DuckDB's version)."""

_SEP, _NULL = "\u001f", "\u001e"  # unit and record separators (PostgreSQL text refuses a NUL byte)


def row_hash_expr(columns: list[str], dialect: str) -> exp.Expression:
    """The portable row hash of the mapped columns (``HASH_HEX_DIGITS``): each column as text, a null as
    U+001E, joined by U+001F."""
    text: exp.Expression | None = None
    for c in columns:
        part = exp.Coalesce(this=exp.cast(_col(c), "varchar"), expressions=[_str(_NULL)])
        text = part if text is None else exp.DPipe(this=exp.DPipe(this=text, expression=_str(_SEP)), expression=part)
    assert text is not None, "a sync maps at least one column"
    digits = exp.Substring(
        this=exp.MD5(this=text), start=exp.Literal.number(1), length=exp.Literal.number(HASH_HEX_DIGITS)
    )
    if dialect == "postgres":  # hex through a bit string: ('x' || h)::bit(60)::bigint
        bits = exp.DataType.build(f"bit({HASH_HEX_DIGITS * 4})", dialect="postgres")
        return exp.cast(exp.cast(exp.DPipe(this=_str("x"), expression=digits), bits), "bigint")
    if dialect == "snowflake":
        return exp.func("TO_NUMBER", digits, _str("X" * HASH_HEX_DIGITS))
    return exp.cast(exp.DPipe(this=_str("0x"), expression=digits), "bigint")  # DuckDB, BigQuery: hex literals


def legacy_hash_expr(columns: list[str]) -> exp.Expression:
    """DuckDB's native hash of the mapped columns: the row hash of a state written before the portable one."""
    return exp.Anonymous(this="hash", expressions=[_col(c) for c in columns])


def mapped_alias(i: int) -> str:
    return f"c{i}"


def _is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=e, expression=exp.Null())


def _not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=_is_null(e))


def build_diff_sql(
    cfg: SyncConfig,
    *,
    dialect: str = "duckdb",
    source_schema: str | None = "main",
    state_catalog: str | None = None,
    digest_columns: Collection[str] = (),
    resend: bool = False,
) -> str:
    """SELECT of (_key, _op, _hash, _reason, c0..cN) for every row to send and every invalid row.

    ``resend`` (a full resync): every row the destination holds is a candidate ``change``, whether its hash
    differs or not, so that everything is sent again; new keys are adds and gone keys removals as always.

    ``digest_columns``: email columns that may hold a SHA-256 digest (64 hex characters) instead of an
    address, because the destination hashes that field anyway (``Destination.accepts_digest``).

    Shape (one statement):
      src   = source keyed and hashed (mapped columns only);
      st    = this sync's acknowledged state;
      cand  = src ⟗ st where the key is new, gone, or its hash differs (what the mode needs);
      dup   = candidate keys that occur more than once in the source;
      final = cand with the invalid reason checked on candidates only (an unchanged row was valid when it
              was sent, so validation cost follows the changes, not the audience).
    """
    cols = list(cfg.fields)
    pk = _col(cfg.primary_key)
    source = exp.table_(cfg.source, db=source_schema, quoted=True)  # no schema: a temp view of the session
    wanted = OPS_BY_MODE[cfg.mode]
    aliases = [mapped_alias(i) for i in range(len(cols))]

    src = exp.select(
        exp.alias_(exp.cast(pk, "varchar"), "_key"),
        exp.alias_(pk.copy(), "_pk"),
        exp.alias_(row_hash_expr(cols, dialect), "_hash"),
        exp.alias_(exp.true(), "_present"),
        *[exp.alias_(_col(c), a) for c, a in zip(cols, aliases, strict=True)],
    ).from_(source)
    state = (
        exp.select(exp.column("key"), exp.column("row_hash"))
        .from_(exp.table_("sync_state", db=SCHEMA, catalog=state_catalog, quoted=True))
        .where(exp.EQ(this=exp.column("sync_name"), expression=_str(cfg.name)))
    )

    s_key, st_key, present = exp.column("_key", "src"), exp.column("key", "st"), exp.column("_present", "src")
    conds: list[exp.Expression] = [_is_null(st_key)]  # new keys (and null keys) are always candidates
    if "remove" in wanted:
        conds.append(_is_null(present))
    if "change" in wanted:
        differs = exp.NEQ(this=exp.column("_hash", "src"), expression=exp.column("row_hash", "st"))
        conds.append(exp.and_(_not_null(present), _not_null(st_key), *([] if resend else [differs])))
    cand = (
        exp.select(
            exp.alias_(exp.Coalesce(this=s_key, expressions=[st_key]), "_key"),
            exp.alias_(st_key.copy(), "_st_key"),
            exp.column("_pk", "src"),
            exp.column("_hash", "src"),
            present.copy(),
            *[exp.column(a, "src") for a in aliases],
        )
        .from_("src")
        .join(
            "st",
            on=exp.EQ(this=s_key, expression=st_key),
            join_type="full outer" if "remove" in wanted else "left",
        )
        .where(exp.or_(*conds))
    )
    # duplicates among the candidates' keys, matched on the key's own type (no cast of every source row)
    src_key = exp.cast(pk.copy(), "varchar")
    dup = (
        exp.select(exp.alias_(src_key, "_key"))
        .from_(source.copy())
        .where(pk.copy().isin(query=exp.select("_pk").from_("cand").where(_not_null(exp.column("_present")))))
        .group_by(src_key.copy())
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )

    c_present = exp.column("_present", "c")
    reason = exp.Case().when(exp.and_(_not_null(c_present), _is_null(exp.column("_key", "c"))), _str("null_key"))
    reason = reason.when(_not_null(exp.column("_key", "d")), _str("duplicate_key"))
    for c in cfg.checked_email_columns:
        col = exp.column(aliases[cols.index(c)], "c")
        bad = exp.and_(
            _not_null(col),
            exp.Not(this=exp.RegexpLike(this=exp.cast(col.copy(), "varchar"), expression=_str(EMAIL_PATTERN))),
        )
        if c in digest_columns:
            digest = exp.RegexpLike(this=exp.cast(col.copy(), "varchar"), expression=_str(SHA256_PATTERN))
            bad = exp.and_(bad, exp.Not(this=digest))
        reason = reason.when(bad, _str(f"invalid_email:{c}"))

    op = (
        exp.Case()
        .when(_is_null(c_present.copy()), _str("remove"))
        .when(_is_null(exp.column("_st_key", "c")), _str("add"))
        .else_(_str("change"))
    )
    inner = (
        exp.select(
            exp.column("_key", "c"),
            exp.alias_(op, "_op"),
            exp.column("_hash", "c"),
            exp.alias_(reason, "_reason"),
            *[exp.column(a, "c") for a in aliases],
        )
        .from_(exp.alias_(exp.to_table("cand"), "c"))
        .join(
            exp.alias_(exp.to_table("dup"), "d"),
            on=exp.EQ(this=exp.column("_key", "c"), expression=exp.column("_key", "d")),
            join_type="left",
        )
    )
    final = (
        exp.select(
            exp.column("_key"),
            exp.alias_(
                exp.Case().when(_not_null(exp.column("_reason")), _str("invalid")).else_(exp.column("_op")),
                "_op",
            ),
            exp.column("_hash"),
            exp.column("_reason"),
            *[exp.column(a) for a in aliases],
        )
        .from_(exp.alias_(exp.Subquery(this=inner), "x"))
        .with_("src", as_=src)
        .with_("st", as_=state)
        .with_("cand", as_=cand)
        .with_("dup", as_=dup)
    )
    return final.sql(dialect=dialect)


def build_rehash_sql(cfg: SyncConfig, *, dialect: str = "duckdb", source_schema: str = "main") -> str:
    """SELECT of (_key, _old, _new) over the model: each row's key, its legacy hash and its portable hash
    (``activations.state.rehash_legacy_state``)."""
    cols = list(cfg.fields)
    return (
        exp.select(
            exp.alias_(exp.cast(_col(cfg.primary_key), "varchar"), "_key"),
            exp.alias_(legacy_hash_expr(cols), "_old"),
            exp.alias_(row_hash_expr(cols, dialect), "_new"),
        )
        .from_(exp.table_(cfg.source, db=source_schema, quoted=True))
        .sql(dialect=dialect)
    )


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
