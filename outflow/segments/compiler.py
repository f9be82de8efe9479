"""Compile segment definitions to SQL with sqlglot.

The compiler builds a sqlglot AST: user values only ever become literals, user field names only ever become
columns that exist in the catalog. The finished condition tree is then validated again, node by node, against
an allowlist (boolean operators, comparisons, a few functions), so no DDL, subquery or unknown function can
reach the warehouse even through the ``expr`` escape hatch.
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from outflow.segments.errors import SegmentError
from outflow.segments.schema import (
    BOOLEAN,
    DATE,
    EVENT_SOURCE,
    NUMBER,
    PERSON_SOURCES,
    SOURCES,
    STRING,
    TIMESTAMP,
    UNKNOWN,
    Catalog,
)
from outflow.segments.spec import Cond, Segment, parse_duration

log = logging.getLogger(__name__)

DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
REF_PREFIX = "__outflow_ref__"
NOW_TOKEN = "__outflow_now__"
EVENT_ALIAS = "e"

#: Functions a segment expression may call.
ALLOWED_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Lower,
    exp.Upper,
    exp.Coalesce,
    exp.Abs,
    exp.Length,
    exp.Trim,
    exp.Round,
    exp.Least,
    exp.Greatest,
    exp.StrPosition,
    exp.StartsWith,
    exp.Substring,
    exp.Right,
    exp.Left,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.Cast,
    exp.TryCast,
    exp.Floor,
    exp.Ceil,
)
#: Non-function nodes a condition may contain.
ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.DataType,
    exp.Interval,
    exp.Var,
    exp.Tuple,
    exp.DPipe,
    exp.Concat,
)
_PREDICATES: tuple[type[exp.Expression], ...] = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Boolean,
    exp.StartsWith,
)


def _lit(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def _now() -> exp.Expression:
    return exp.column(NOW_TOKEN)


def _interval(text: str) -> exp.Expression:
    d = parse_duration(text)
    return exp.Interval(this=exp.Literal.string(str(d.amount)), unit=exp.Var(this=d.unit))


def _ago(text: str) -> exp.Expression:
    return exp.Sub(this=_now(), expression=_interval(text))


def _value_type(v: Any) -> str:
    if isinstance(v, bool):
        return BOOLEAN
    if isinstance(v, (int, float)):
        return NUMBER
    if isinstance(v, datetime):
        return TIMESTAMP
    if isinstance(v, date):
        return DATE
    if isinstance(v, str):
        return STRING
    return UNKNOWN


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")


@dataclass
class Resolved:
    column: exp.Column
    type: str
    model: str


@dataclass
class CompiledSegment:
    segment: Segment
    select: exp.Select
    depends_on: list[str]
    models_used: list[str]

    @property
    def name(self) -> str:
        return self.segment.name

    def sql(self, dialect: str = "duckdb", pretty: bool = True) -> str:
        """SQL for a dialect, with placeholder table names and ``__outflow_now__`` for 'now'."""
        return self.select.sql(dialect=dialect, pretty=pretty)


@dataclass
class _Ctx:
    seg: Segment
    events: list[exp.Expression] = field(default_factory=list)  # CTE selects
    seg_refs: list[str] = field(default_factory=list)
    models: set[str] = field(default_factory=set)


class Compiler:
    """Compile a set of segments against a catalog of known columns."""

    def __init__(self, segments: dict[str, Segment], catalog: Catalog) -> None:
        self.segments = segments
        self.catalog = catalog
        self.person_sources = [(m, a) for m, a, _ in PERSON_SOURCES if catalog.has(m)]
        missing = [m for m, _, req in PERSON_SOURCES if req and not catalog.has(m)]
        if missing:
            raise SegmentError(f"profile models missing from the dbt project: {', '.join(missing)}")

    # ----------------------------------------------------------------- fields
    def _all_person_fields(self) -> list[str]:
        names: list[str] = []
        for m, _ in self.person_sources:
            names += list(self.catalog.columns(m))
            names += [f"{m}.{c}" for c in self.catalog.columns(m)]
        return names

    def _unknown(self, ctx: _Ctx, path: str, name: str, candidates: list[str], what: str) -> SegmentError:
        near = difflib.get_close_matches(name, candidates, n=1, cutoff=0.0)
        hint = f"; nearest valid field: {near[0]!r}" if near else ""
        return SegmentError(f"{ctx.seg.where}: {path}: unknown {what} {name!r}{hint}")

    def resolve_person_field(self, name: str, ctx: _Ctx, path: str) -> Resolved:
        key = name.strip().lower()
        if "." in key:
            model, col = key.split(".", 1)
            for m, alias in self.person_sources:
                if m == model and col in self.catalog.columns(m):
                    ctx.models.add(m)
                    return Resolved(exp.column(col, table=alias), self.catalog.columns(m)[col], m)
        else:
            for m, alias in self.person_sources:
                cols = self.catalog.columns(m)
                if key in cols:
                    ctx.models.add(m)
                    return Resolved(exp.column(key, table=alias), cols[key], m)
        raise self._unknown(ctx, path, name, self._all_person_fields(), "field")

    def resolve_event_field(self, name: str, ctx: _Ctx, path: str) -> Resolved:
        key = name.strip().lower().removeprefix(f"{EVENT_SOURCE}.")
        cols = self.catalog.columns(EVENT_SOURCE)
        if key in cols:
            return Resolved(exp.column(key, table=EVENT_ALIAS), cols[key], EVENT_SOURCE)
        raise self._unknown(ctx, path, name, list(cols), "event field")

    # ------------------------------------------------------------- conditions
    def _typed_value(self, ctx: _Ctx, c: Cond, ftype: str, v: Any) -> exp.Expression:
        vtype = _value_type(v)
        if ftype in (DATE, TIMESTAMP) and vtype == STRING and _ISO_DATE.match(v):
            return exp.cast(exp.Literal.string(v), "DATE" if ftype == DATE else "TIMESTAMP")
        if ftype in (DATE, TIMESTAMP) and vtype in (DATE, TIMESTAMP):
            return _lit(v)
        if ftype != UNKNOWN and vtype != ftype:
            raise SegmentError(
                f"{ctx.seg.where}: {c.path}: type mismatch: field {c.field!r} is {ftype}, value {v!r} is {vtype}"
            )
        return _lit(v)

    def _field_cond(self, c: Cond, r: Resolved, ctx: _Ctx) -> exp.Expression:
        col, ftype, op, v = r.column, r.type, c.op, c.value
        where = f"{ctx.seg.where}: {c.path}"

        def need(types: tuple[str, ...]) -> None:
            if ftype != UNKNOWN and ftype not in types:
                raise SegmentError(
                    f"{where}: type mismatch: operator {op!r} needs a {' or '.join(types)} field, "
                    f"{c.field!r} is {ftype}"
                )

        if op in ("is empty", "is not empty"):
            if v is not None:
                raise SegmentError(f"{where}: operator {op!r} takes no value")
            empty: exp.Expression = exp.Is(this=col.copy(), expression=exp.Null())
            if ftype in (STRING, UNKNOWN):
                empty = exp.or_(empty, exp.EQ(this=exp.Trim(this=col.copy()), expression=exp.Literal.string("")))
            return exp.Paren(this=empty) if op == "is empty" else exp.Not(this=exp.Paren(this=empty))
        if v is None:
            raise SegmentError(f"{where}: operator {op!r} needs a value")
        if op in ("within_last", "before", "after"):
            need((DATE, TIMESTAMP))
            if isinstance(v, (date, datetime)) or (isinstance(v, str) and _ISO_DATE.match(v)):
                if op == "within_last":
                    raise SegmentError(f"{where}: within_last takes a duration like '14 days', got {v!r}")
                bound = self._typed_value(ctx, c, ftype, v)
            else:
                try:
                    bound = _ago(str(v))
                except ValueError as exc:
                    raise SegmentError(f"{where}: {exc}") from None
            if op == "before":
                return exp.LT(this=col, expression=bound)
            return exp.GTE(this=col, expression=bound)
        if op in ("in", "not in"):
            if not isinstance(v, list) or not v:
                raise SegmentError(f"{where}: operator {op!r} needs a non-empty list")
            node = exp.In(this=col, expressions=[self._typed_value(ctx, c, ftype, x) for x in v])
            return node if op == "in" else exp.Not(this=node)
        if op == "between":
            if not isinstance(v, list) or len(v) != 2:
                raise SegmentError(f"{where}: operator 'between' needs a list of two values [low, high]")
            need((NUMBER, DATE, TIMESTAMP))
            return exp.Between(
                this=col,
                low=self._typed_value(ctx, c, ftype, v[0]),
                high=self._typed_value(ctx, c, ftype, v[1]),
            )
        if isinstance(v, list):
            raise SegmentError(f"{where}: operator {op!r} takes one value, not a list")
        if op in ("contains", "not contains", "starts with", "ends with"):
            need((STRING,))
            lit = self._typed_value(ctx, c, STRING if ftype == UNKNOWN else ftype, v)
            if op == "starts with":
                return exp.StartsWith(this=col, expression=lit)
            if op == "ends with":
                n = len(str(v))
                return exp.EQ(this=exp.Right(this=col, expression=exp.Literal.number(n)), expression=lit)
            pos = exp.GT(this=exp.StrPosition(this=col, substr=lit), expression=exp.Literal.number(0))
            return pos if op == "contains" else exp.Not(this=exp.Paren(this=pos))
        if op in (">", ">=", "<", "<="):
            need((NUMBER, DATE, TIMESTAMP))
        elif ftype == BOOLEAN and op not in ("=", "!="):
            raise SegmentError(f"{where}: type mismatch: operator {op!r} on boolean field {c.field!r}")
        klass = {"=": exp.EQ, "!=": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}[op]
        return klass(this=col, expression=self._typed_value(ctx, c, ftype, v))

    def _expr_cond(self, c: Cond, ctx: _Ctx, resolver: Any) -> exp.Expression:
        where = f"{ctx.seg.where}: {c.path}"
        try:
            statements = sqlglot.parse(c.expr or "", read="duckdb")
        except ParseError as exc:
            raise SegmentError(f"{where}: expression {c.expr!r} does not parse: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1 or statements[0] is None:
            raise SegmentError(f"{where}: expression {c.expr!r} must be one boolean condition, not several statements")
        tree = statements[0]
        validate_condition(tree, where=where)
        # Resolve every column to a known field (qualifying it with the right alias).
        for col in list(tree.find_all(exp.Column)):
            name = f"{col.table}.{col.name}" if col.table else col.name
            r = resolver(name, ctx, c.path)
            col.replace(r.column)
        # 'now' in an expression is the model's now (the as_of var), not the wall clock.
        for node in list(tree.find_all(exp.CurrentTimestamp, exp.CurrentDate)):
            now = _now()
            node.replace(exp.cast(now, "DATE") if isinstance(node, exp.CurrentDate) else now)
        return exp.Paren(this=tree)

    def _cond(self, c: Cond, ctx: _Ctx, in_event: bool = False) -> exp.Expression:
        resolver = self.resolve_event_field if in_event else self.resolve_person_field
        if c.kind == "field":
            return self._field_cond(c, resolver(c.field or "", ctx, c.path), ctx)
        if c.kind == "expr":
            return self._expr_cond(c, ctx, resolver)
        if c.kind in ("all", "any"):
            parts = [self._cond(ch, ctx, in_event) for ch in c.children]
            joined = exp.and_(*parts) if c.kind == "all" else exp.or_(*parts)
            return exp.Paren(this=joined) if len(parts) > 1 else parts[0]
        if c.kind == "not":
            return exp.Not(this=exp.Paren(this=self._cond(c.children[0], ctx, in_event)))
        if c.kind in ("in_segment", "not_in_segment"):
            name = c.segment or ""
            if name not in self.segments:
                near = difflib.get_close_matches(name, list(self.segments), n=1, cutoff=0.0)
                hint = f"; nearest segment: {near[0]!r}" if near else ""
                raise SegmentError(f"{ctx.seg.where}: {c.path}: unknown segment {name!r}{hint}")
            alias = f"sg_{name}"
            if name not in ctx.seg_refs:
                ctx.seg_refs.append(name)
            test = exp.Is(this=exp.column("person_id", table=alias), expression=exp.Null())
            return exp.Not(this=test) if c.kind == "in_segment" else test
        if c.kind in ("event", "no_event"):
            if not self.catalog.has(EVENT_SOURCE):
                raise SegmentError(f"{ctx.seg.where}: {c.path}: event conditions need the {EVENT_SOURCE} model")
            ev = c.event
            assert ev is not None
            alias = f"ev_{len(ctx.events) + 1}"
            filters: list[exp.Expression] = [
                exp.LTE(this=exp.column("occurred_at", table=EVENT_ALIAS), expression=_now())
            ]
            if ev.within_last:
                filters.append(
                    exp.GTE(this=exp.column("occurred_at", table=EVENT_ALIAS), expression=_ago(ev.within_last))
                )
            filters += [self._cond(w, ctx, in_event=True) for w in c.event_where]
            cte = (
                exp.select(exp.column("person_id", table=EVENT_ALIAS), exp.alias_(exp.Count(this=exp.Star()), "n"))
                .from_(exp.to_table(f"{REF_PREFIX}{EVENT_SOURCE}").as_(EVENT_ALIAS))
                .where(exp.and_(*filters))
                .group_by(exp.column("person_id", table=EVENT_ALIAS))
            )
            ctx.events.append(cte)
            n = exp.Coalesce(this=exp.column("n", table=alias), expressions=[exp.Literal.number(0)])
            if c.kind == "no_event":
                return exp.EQ(this=n, expression=exp.Literal.number(0))
            tests: list[exp.Expression] = [exp.GTE(this=n.copy(), expression=exp.Literal.number(ev.at_least or 1))]
            if ev.at_most is not None:
                tests.append(exp.LTE(this=n.copy(), expression=exp.Literal.number(ev.at_most)))
            return exp.and_(*tests) if len(tests) > 1 else tests[0]
        raise SegmentError(f"{ctx.seg.where}: {c.path}: unsupported condition kind {c.kind!r}")

    # ------------------------------------------------------------------ build
    def compile_one(self, seg: Segment) -> CompiledSegment:
        ctx = _Ctx(seg=seg)
        condition = self._cond(seg.condition, ctx)
        aliases = (
            {a for _, a in self.person_sources}
            | {f"ev_{i + 1}" for i in range(len(ctx.events))}
            | {f"sg_{s}" for s in ctx.seg_refs}
        )
        validate_condition(condition, where=seg.where, aliases=aliases)
        q = exp.select(exp.column("person_id", table="p")).from_(exp.to_table(f"{REF_PREFIX}dim_profiles").as_("p"))
        for i, cte in enumerate(ctx.events):
            q = q.with_(f"ev_{i + 1}", as_=cte)
        for m, alias in self.person_sources:
            if m != "dim_profiles" and (m in ctx.models or m == "dim_profile_traits"):
                q = q.join(
                    exp.to_table(f"{REF_PREFIX}{m}").as_(alias),
                    on=exp.EQ(
                        this=exp.column("person_id", table=alias),
                        expression=exp.column("person_id", table="p"),
                    ),
                    join_type="left",
                )
        for i in range(len(ctx.events)):
            alias = f"ev_{i + 1}"
            q = q.join(
                exp.to_table(alias),
                on=exp.EQ(this=exp.column("person_id", table=alias), expression=exp.column("person_id", table="p")),
                join_type="left",
            )
        for s in ctx.seg_refs:
            alias = f"sg_{s}"
            q = q.join(
                exp.to_table(f"{REF_PREFIX}seg_{s}").as_(alias),
                on=exp.EQ(this=exp.column("person_id", table=alias), expression=exp.column("person_id", table="p")),
                join_type="left",
            )
        q = q.where(condition)
        models = sorted(ctx.models | {"dim_profiles", "dim_profile_traits"} | ({EVENT_SOURCE} if ctx.events else set()))
        return CompiledSegment(segment=seg, select=q, depends_on=list(ctx.seg_refs), models_used=models)

    def compile_all(self) -> dict[str, CompiledSegment]:
        compiled = {name: self.compile_one(seg) for name, seg in self.segments.items()}
        check_cycles({n: c.depends_on for n, c in compiled.items()}, self.segments)
        return compiled


def check_cycles(graph: dict[str, list[str]], segments: dict[str, Segment]) -> None:
    """Raise a SegmentError naming the file and the cycle if segments reference each other in a loop."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in graph.get(n, []):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                raise SegmentError(f"{segments[n].file}: segment {n!r}: cycle between segments: {' -> '.join(cycle)}")
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def validate_condition(tree: exp.Expression, where: str, aliases: set[str] | None = None) -> None:
    """Refuse anything but a boolean condition built from allowlisted nodes and functions."""
    if not isinstance(tree, _PREDICATES) and not (
        isinstance(tree, exp.Paren) and isinstance(tree.unnest(), _PREDICATES)
    ):
        raise SegmentError(f"{where}: not a boolean condition: {tree.sql()!r}")
    for node in tree.walk():
        if isinstance(node, (exp.Select, exp.Subquery, exp.Query, exp.Exists)):
            raise SegmentError(f"{where}: subqueries are not allowed in a segment condition")
        if isinstance(
            node,
            (
                exp.Create,
                exp.Drop,
                exp.Alter,
                exp.Insert,
                exp.Delete,
                exp.Update,
                exp.Command,
                exp.TruncateTable,
                exp.Merge,
            ),
        ):
            raise SegmentError(f"{where}: DDL/DML is not allowed in a segment condition")
        if isinstance(node, ALLOWED_NODES + _PREDICATES + ALLOWED_FUNCTIONS):
            pass
        elif isinstance(node, exp.Func):
            fname = str(node.this) if isinstance(node, exp.Anonymous) else node.sql_name()
            raise SegmentError(
                f"{where}: function {fname!r} is not allowed; allowed: "
                f"{', '.join(sorted(f.key for f in ALLOWED_FUNCTIONS))}"
            )
        else:
            raise SegmentError(f"{where}: {type(node).__name__} is not allowed in a segment condition")
        if aliases is not None and isinstance(node, exp.Column):
            if node.name != NOW_TOKEN and node.table not in aliases:
                raise SegmentError(f"{where}: column {node.sql()!r} does not belong to a known model")


# ----------------------------------------------------------------- rendering
def render_direct(
    select: exp.Select,
    dialect: str = "duckdb",
    schema: str = "main",
    now: str | None = None,
    pretty: bool = False,
) -> str:
    """SQL to run directly against a warehouse (no dbt): real table names, 'now' a literal or current time."""
    tree = select.copy()
    for t in list(tree.find_all(exp.Table)):
        if t.name.startswith(REF_PREFIX):
            alias = t.alias
            new = exp.to_table(f"{schema}.{t.name.removeprefix(REF_PREFIX)}")
            t.replace(new.as_(alias) if alias else new)
    now_expr: exp.Expression = exp.cast(exp.Literal.string(now), "TIMESTAMP") if now else exp.CurrentTimestamp()
    for col in list(tree.find_all(exp.Column)):
        if col.name == NOW_TOKEN:
            col.replace(now_expr.copy())
    return tree.sql(dialect=dialect, pretty=pretty)


_FLOAT_TYPES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
_DOUBLE_TOKEN = "__outflow_double__"
_TOKEN = re.compile(r"(__outflow_(?:double|jinja_\d+)__)")


def portable_sql(tree: exp.Expression, pretty: bool = True) -> str:
    """SQL for a dbt model that runs on every target. What engines read differently becomes a dispatch macro of
    dbt_project/macros/compat/ (the floating point type, round, try_cast to a number), and `/` divides in floating
    point everywhere (DuckDB's meaning; PostgreSQL divides integers as integers). The rest is rendered in DuckDB's
    dialect, whose output for the allowed nodes PostgreSQL reads the same (INTERVAL '7' DAY, STARTS_WITH, STRPOS)."""
    tree = tree.copy()
    double = exp.DataType.build(_DOUBLE_TOKEN, udt=True)
    for div in list(tree.find_all(exp.Div)):
        div.set("expression", exp.cast(div.expression, double.copy()))
    for cast in list(tree.find_all(exp.Cast)):
        if type(cast) is exp.Cast and cast.to.this in _FLOAT_TYPES:
            cast.set("to", double.copy())
    calls: dict[str, str] = {_DOUBLE_TOKEN: "outflow_double()"}  # token -> Jinja expression
    # innermost first: an outer call's argument then holds the inner call's token
    for node in sorted(tree.find_all(exp.Round, exp.TryCast), key=lambda n: n.depth, reverse=True):
        if isinstance(node, exp.Round):
            digits = node.args.get("decimals")
            call = f"outflow_round({_jinja_sql(node.this, calls)}, {digits.sql() if digits else 0})"
        elif node.to.is_type(*exp.DataType.NUMERIC_TYPES):
            call = f"outflow_try_cast_double({_jinja_sql(node.this, calls)})"
        else:
            continue
        token = f"__outflow_jinja_{len(calls)}__"
        calls[token] = call
        number = exp.column(token)
        as_is = isinstance(node, exp.Round) or node.to.this in _FLOAT_TYPES
        node.replace(number if as_is else exp.cast(number, node.to))
    parts = _TOKEN.split(tree.sql(dialect="duckdb", pretty=pretty))
    return "".join("{{ " + calls[p] + " }}" if p in calls else p for p in parts)


def _jinja_sql(node: exp.Expression, calls: dict[str, str]) -> str:
    """A node's SQL as a Jinja string expression, with the macro calls of its tokens spliced in (``~``)."""
    parts = [p for p in _TOKEN.split(node.sql(dialect="duckdb")) if p]
    quoted = (calls[p] if p in calls else "'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in parts)
    return " ~ ".join(quoted)


def render_dbt(select: exp.Select) -> str:
    """SQL for a dbt model body (portable_sql): placeholders become ``{{ ref() }}`` and ``{{ outflow_now() }}``."""
    sql = portable_sql(select)

    def relation(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in SOURCES:
            src, table, _ = SOURCES[name]
            return "{{ source('" + src + "', '" + table + "') }}"
        return "{{ ref('" + name + "') }}"

    sql = re.sub(re.escape(REF_PREFIX) + r"([a-z0-9_]+)", relation, sql)
    return sql.replace(NOW_TOKEN, "{{ outflow_now() }}")


def inline_segments(name: str, compiled: dict[str, CompiledSegment]) -> exp.Select:
    """The segment's query with every referenced segment inlined as a subquery (no built seg_* needed)."""
    tree = compiled[name].select.copy()
    for t in list(tree.find_all(exp.Table)):
        ref = t.name.removeprefix(REF_PREFIX)
        if t.name.startswith(REF_PREFIX) and ref.startswith("seg_") and ref[4:] in compiled:
            t.replace(inline_segments(ref[4:], compiled).subquery(t.alias or ref))
    return tree
