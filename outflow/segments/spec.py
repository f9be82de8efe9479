"""Segment definitions: YAML files in ``dbt_project/segments/`` validated with pydantic.

A file holds one segment::

    name: hot_leads
    description: Leads who keep coming back to the pricing page.
    owner: growth@example.com
    conditions:            # a list means "all of"
      - {field: lifecycle_stage, op: in, value: [lead, subscriber]}
      - event:
          where:
            - {field: event_type, op: "=", value: page_view}
            - {field: page_path, op: "=", value: /pricing}
          within_last: 14 days
          at_least: 3
      - {field: last_order_at, before: 90 days ago}
      - {in_segment: engaged}
      - {not_in_segment: customers}

Condition kinds: ``field`` (with ``op``/``value`` or ``within_last``/``before``/``after``), ``event``,
``no_event`` (absence), ``in_segment``, ``not_in_segment``, ``expr`` (a restricted SQL boolean), and the
groups ``all``, ``any``, ``not``.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from outflow.segments.errors import SegmentError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
OPERATORS = (
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not in",
    "between",
    "contains",
    "not contains",
    "starts with",
    "ends with",
    "is empty",
    "is not empty",
    "within_last",
    "before",
    "after",
)
_OP_ALIASES = {
    "==": "=",
    "eq": "=",
    "<>": "!=",
    "ne": "!=",
    "neq": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "not_in": "not in",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "not_contains": "not contains",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "within last": "within_last",
}
_UNITS = {"minute": "MINUTE", "hour": "HOUR", "day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}
_DURATION_RE = re.compile(r"^\s*(\d{1,6})\s*(minute|hour|day|week|month|year)s?(\s+ago)?\s*$", re.IGNORECASE)
# Things that must never appear in a value, even though values only ever become SQL literals:
# statement chaining with a destructive keyword, and Jinja delimiters (dbt renders the generated models).
_FORBIDDEN_VALUE = re.compile(
    r";\s*(drop|delete|insert|update|alter|create|truncate|grant|revoke|attach|detach|copy|pragma|install|load|"
    r"call|export|import|set)\b|\{\{|\{%|\{#|__outflow_",
    re.IGNORECASE,
)

_JINJA = re.compile(r"\{\{|\{%|\{#")
Scalar = str | int | float | bool | date


class Duration(BaseModel):
    amount: int
    unit: str  # SQL interval unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.lower()}s"


def parse_duration(text: Any) -> Duration:
    """``"14 days"``, ``"90 days ago"``, ``"48 hours"`` -> Duration."""
    m = _DURATION_RE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like '14 days' or '90 days ago'")
    return Duration(amount=int(m.group(1)), unit=_UNITS[m.group(2).lower()])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_value(v: Any) -> Any:
    items = v if isinstance(v, list) else [v]
    for item in items:
        if isinstance(item, str) and _FORBIDDEN_VALUE.search(item):
            raise ValueError(f"value {item!r} looks like an attempt to inject SQL or Jinja; refused")
        if isinstance(item, (dict, list)):
            raise ValueError(f"value {item!r} must be a scalar or a list of scalars")
    return v


class FieldCondition(_Strict):
    field: str
    op: str | None = None
    value: Any = None
    within_last: str | None = None
    before: Any = None
    after: Any = None

    @field_validator("op")
    @classmethod
    def _op(cls, v: str | None) -> str | None:
        if v is None:
            return v
        norm = " ".join(str(v).strip().lower().split())
        norm = _OP_ALIASES.get(norm, norm)
        if norm not in OPERATORS:
            raise ValueError(f"unknown operator {v!r}; use one of: {', '.join(OPERATORS)}")
        return norm

    @field_validator("value", "before", "after")
    @classmethod
    def _val(cls, v: Any) -> Any:
        return _check_value(v)

    def normalized(self) -> tuple[str, Any]:
        """(operator, value) whatever the spelling used in YAML."""
        given = [k for k in ("within_last", "before", "after") if getattr(self, k) is not None]
        if self.op and given:
            raise ValueError(f"give either 'op' or '{given[0]}', not both")
        if len(given) > 1:
            raise ValueError(f"give only one of {', '.join(given)}")
        if given:
            return given[0], getattr(self, given[0])
        if self.op is None:
            raise ValueError("a field condition needs 'op' (or within_last / before / after)")
        return self.op, self.value


class EventSpec(_Strict):
    where: list[dict[str, Any]] = Field(default_factory=list)
    within_last: str | None = None
    at_least: int | None = Field(default=None, ge=1)
    at_most: int | None = Field(default=None, ge=0)

    @field_validator("within_last")
    @classmethod
    def _dur(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


class SegmentSpec(_Strict):
    name: str
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    conditions: list[dict[str, Any]] | dict[str, Any]
    tags: list[str] = Field(default_factory=list)

    @field_validator("description", "owner")
    @classmethod
    def _text(cls, v: str) -> str:
        if _JINJA.search(v):
            raise ValueError("Jinja delimiters ({{, {%, {#) are not allowed: dbt would render them")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a valid segment name (lowercase letters, digits and _)")
        return v


# Parsed condition tree (plain tuples keep the compiler simple and hashable).
class Cond(BaseModel):
    kind: Literal["field", "event", "no_event", "in_segment", "not_in_segment", "expr", "all", "any", "not"]
    path: str
    field: str | None = None
    op: str | None = None
    value: Any = None
    event: EventSpec | None = None
    event_where: list[Cond] = Field(default_factory=list)
    segment: str | None = None
    expr: str | None = None
    children: list[Cond] = Field(default_factory=list)


class Segment(BaseModel):
    """A loaded, structurally valid segment (fields and types are checked by the compiler)."""

    name: str
    description: str
    owner: str
    tags: list[str]
    file: Path
    condition: Cond

    @property
    def where(self) -> str:
        return f"{self.file}: segment {self.name!r}"


def _pyd_msg(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


_GROUP_KEYS = ("all", "any", "not")
_KINDS = ("field", "event", "no_event", "in_segment", "not_in_segment", "expr") + _GROUP_KEYS


def parse_condition(obj: Any, path: str, where: str) -> Cond:
    """Turn one YAML condition into a Cond, or raise SegmentError naming file, segment and path."""
    if isinstance(obj, list):
        return Cond(
            kind="all",
            path=path,
            children=[parse_condition(c, f"{path}[{i}]", where) for i, c in enumerate(obj)],
        )
    if not isinstance(obj, dict):
        raise SegmentError(f"{where}: {path}: a condition must be a mapping, got {obj!r}")
    kinds = [k for k in _KINDS if k in obj]
    if len(kinds) != 1:
        raise SegmentError(
            f"{where}: {path}: a condition needs exactly one of {', '.join(_KINDS)} "
            f"(got keys: {', '.join(map(str, obj))})"
        )
    kind = kinds[0]
    try:
        if kind == "field":
            fc = FieldCondition.model_validate(obj)
            try:
                op, value = fc.normalized()
            except ValueError as exc:
                raise SegmentError(f"{where}: {path}: {exc}") from None
            return Cond(kind="field", path=path, field=fc.field, op=op, value=value)
        if kind in ("event", "no_event"):
            if set(obj) != {kind}:
                raise SegmentError(f"{where}: {path}: unexpected keys next to {kind!r}: {sorted(set(obj) - {kind})}")
            ev = EventSpec.model_validate(obj[kind] or {})
            if kind == "no_event" and (ev.at_least or ev.at_most is not None):
                raise SegmentError(f"{where}: {path}: no_event takes no at_least/at_most")
            if ev.at_least is not None and ev.at_most is not None and ev.at_most < ev.at_least:
                raise SegmentError(f"{where}: {path}: at_most ({ev.at_most}) < at_least ({ev.at_least})")
            sub = [parse_condition(c, f"{path}.{kind}.where[{i}]", where) for i, c in enumerate(ev.where)]
            for s in sub:
                if s.kind not in ("field", "expr", "all", "any", "not"):
                    raise SegmentError(f"{where}: {s.path}: only field/expr conditions are allowed inside an event")
            return Cond(kind=kind, path=path, event=ev, event_where=sub)
        if kind in ("in_segment", "not_in_segment"):
            if set(obj) != {kind} or not isinstance(obj[kind], str) or not NAME_RE.match(obj[kind]):
                raise SegmentError(f"{where}: {path}: {kind} takes one segment name, got {obj!r}")
            return Cond(kind=kind, path=path, segment=obj[kind])
        if kind == "expr":
            if set(obj) != {"expr"} or not isinstance(obj["expr"], str):
                raise SegmentError(f"{where}: {path}: expr takes one SQL boolean expression string")
            if _FORBIDDEN_VALUE.search(obj["expr"]):
                raise SegmentError(f"{where}: {path}: expression {obj['expr']!r} is refused (statement or Jinja)")
            return Cond(kind="expr", path=path, expr=obj["expr"])
        # groups
        if set(obj) != {kind}:
            raise SegmentError(f"{where}: {path}: unexpected keys next to {kind!r}: {sorted(set(obj) - {kind})}")
        inner = obj[kind]
        if kind == "not":
            return Cond(kind="not", path=path, children=[parse_condition(inner, f"{path}.not", where)])
        if not isinstance(inner, list) or not inner:
            raise SegmentError(f"{where}: {path}: {kind} takes a non-empty list of conditions")
        return Cond(
            kind=kind,
            path=path,
            children=[parse_condition(c, f"{path}.{kind}[{i}]", where) for i, c in enumerate(inner)],
        )
    except ValidationError as exc:
        raise SegmentError(f"{where}: {path}: {_pyd_msg(exc)}") from None


FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml$")


def check_file_name(path: Path) -> None:
    """A declaration file's name reaches generated models (a header comment): it must look like an
    identifier (letters, digits, ``_ . -``, ending ``.yml``/``.yaml``); anything else (a newline, quotes,
    Jinja braces) is refused with one line naming the file, its control characters escaped."""
    if not FILE_NAME_RE.match(path.name):
        shown = str(path).encode("unicode_escape").decode("ascii")
        raise SegmentError(
            f"{shown}: file name not allowed: use letters, digits, '_', '.' and '-' only, ending in .yml"
        )


def load_segment(path: Path) -> Segment:
    check_file_name(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SegmentError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise SegmentError(f"{path}: a segment file must be a mapping with name, description, owner, conditions")
    try:
        spec = SegmentSpec.model_validate(raw)
    except ValidationError as exc:
        name = raw.get("name", "?")
        raise SegmentError(f"{path}: segment {name!r}: {_pyd_msg(exc)}") from None
    where = f"{path}: segment {spec.name!r}"
    cond = parse_condition(spec.conditions, "conditions", where)
    return Segment(
        name=spec.name,
        description=spec.description,
        owner=spec.owner,
        tags=spec.tags,
        file=path,
        condition=cond,
    )


def load_segments(directory: Path) -> dict[str, Segment]:
    """Load every ``*.yml`` in the directory (files starting with ``_`` are skipped)."""
    if not directory.is_dir():
        raise SegmentError(f"{directory}: segment directory not found")
    segments: dict[str, Segment] = {}
    for path in sorted(directory.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        seg = load_segment(path)
        if seg.name in segments:
            raise SegmentError(f"{path}: segment {seg.name!r} is already defined in {segments[seg.name].file}")
        segments[seg.name] = seg
    return segments
