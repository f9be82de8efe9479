"""Journey declarations: one YAML file per journey in ``dbt_project/journeys/``, validated with pydantic.

Every error is one line naming the file and the key path, e.g.
``dbt_project/journeys/welcome.yml: steps[1].split: the percentages add up to 90; they must add up to 100``.
See docs/journeys.md for the format.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from outflow.errors import OutflowError
from outflow.segments.spec import NAME_RE, OPERATORS, Duration, parse_duration

#: The activation models a journey send lands in (dbt models over ``outflow_journeys.journey_sends``): a send step
#: names a declared sync whose source is one of them.
SEND_MODELS = ("trg_journey_messages", "sync_journey_sales_handoff")
_STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TRAIT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_FIELD_OPS = tuple(o for o in OPERATORS if o not in ("within_last", "before", "after", "between"))


class JourneyError(OutflowError):
    """A bad journey declaration: one line naming the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One condition: an event since the person entered (the journey, or the hold step), segment membership,
    a profile field (``dim_profiles``, ``dim_profile_traits``, ``fct_lead_scores``), or a group."""

    event: str | None = None
    in_segment: str | None = None
    not_in_segment: str | None = None
    field: str | None = None
    op: str | None = None
    value: Any = None
    any: list[Condition] | None = None
    all: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [k for k in ("event", "in_segment", "not_in_segment", "field", "any", "all") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a condition needs exactly one of event, in_segment, not_in_segment, field, any, all")
        if self.field is not None:
            if not _TRAIT.match(self.field):
                raise ValueError(f"field {self.field!r} is not a column name")
            if self.op not in _FIELD_OPS:
                raise ValueError(f"op {self.op!r}: use one of {', '.join(_FIELD_OPS)}")
            values = self.value if isinstance(self.value, list) else [self.value]
            if any(isinstance(v, (dict, list)) for v in values):
                raise ValueError("value must be a scalar or a list of scalars")
        elif self.op is not None or self.value is not None:
            raise ValueError("op and value go with field")
        for name in (self.in_segment, self.not_in_segment):
            if name is not None and not NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a segment name")
        return self

    def segments(self) -> list[str]:
        found = [s for s in (self.in_segment, self.not_in_segment) if s]
        for child in (self.any or []) + (self.all or []):
            found += child.segments()
        return found


class Entry(_Strict):
    segment: str | None = Field(default=None, description="entering this segment starts the journey")
    event: str | None = Field(default=None, description="each event of this type starts it (event_type)")
    carry: list[str] = Field(default_factory=list, description="event columns carried into the sends")
    lookback: str = Field(default="1 day", description="how far back the first evaluation looks for entries")

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.segment is None) == (self.event is None):
            raise ValueError("give either segment or event")
        if self.carry and self.event is None:
            raise ValueError("carry: only an event entry carries properties")
        parse_duration(self.lookback)
        return self


class DelayUntil(_Strict):
    until: str = Field(description="HH:MM in the person's time zone")

    @field_validator("until")
    @classmethod
    def _tod(cls, v: str) -> str:
        if not _TOD.match(v):
            raise ValueError(f"{v!r} is not a time of day like '09:00'")
        return v

    @property
    def at(self) -> time:
        h, m = self.until.split(":")
        return time(int(h), int(m))


class Hold(_Strict):
    condition: Condition
    timeout: str
    on_timeout: str = Field(description="the step a person goes to when the timeout passes")

    @field_validator("timeout")
    @classmethod
    def _dur(cls, v: str) -> str:
        parse_duration(v)
        return v


class BranchArm(_Strict):
    when: Condition | None = None
    next: str | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> BranchArm:
        if (self.when is None) == (self.default is None) or (self.when is not None) != (self.next is not None):
            raise ValueError("a branch arm is either {when: condition, next: step} or {default: step}")
        return self

    @property
    def target(self) -> str:
        return self.next if self.when is not None else self.default  # type: ignore[return-value]


class SplitArm(_Strict):
    arm: str
    percent: float = Field(gt=0, le=100)
    next: str


class Send(_Strict):
    sync: str = Field(description="a declared sync whose source is a journey send model")
    message: str = Field(min_length=1, description="what to send, e.g. a template or event name")
    channel: Literal["email", "sms", "push", "crm"] = "email"
    purpose: str = Field(default="marketing", description="consent purpose, or 'transactional'")


class Update(_Strict):
    trait: str
    value: str | int | float | bool

    @field_validator("trait")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _TRAIT.match(v):
            raise ValueError(f"{v!r} is not a trait name (lowercase letters, digits, _)")
        return v


KINDS = ("delay", "hold_until", "branch", "split", "send", "update", "exit")


class Step(_Strict):
    id: str
    next: str | None = Field(default=None, description="default: the following step (the last step exits)")
    delay: str | DelayUntil | None = None
    hold_until: Hold | None = None
    branch: list[BranchArm] | None = None
    split: list[SplitArm] | None = None
    send: Send | None = None
    update: Update | None = None
    exit: Literal[True] | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _STEP_ID.match(v):
            raise ValueError(f"{v!r} is not a step id (lowercase letters, digits and _)")
        return v

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: Any) -> Any:
        if isinstance(v, str) and parse_duration(v).amount <= 0:
            raise ValueError("a delay must be longer than zero")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one of {', '.join(KINDS)} (got {', '.join(kinds) or 'none'})")
        if self.next is not None and self.kind in ("branch", "split", "exit"):
            raise ValueError(f"a {self.kind} step takes no next: its arms say where to go")
        if self.branch is not None and (not self.branch or self.branch[-1].default is None):
            raise ValueError("branch: the last arm must be {default: step}")
        if self.branch is not None and any(a.default is not None for a in self.branch[:-1]):
            raise ValueError("branch: only the last arm may be the default")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def waits(self) -> bool:
        """Does a person stay on this step until a later evaluation?"""
        return self.kind in ("delay", "hold_until")

    @property
    def duration(self) -> Duration | None:
        if isinstance(self.delay, str):
            return parse_duration(self.delay)
        if self.hold_until is not None:
            return parse_duration(self.hold_until.timeout)
        return None


class JourneySpec(_Strict):
    name: str
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    entry: Entry
    steps: list[Step] = Field(min_length=1)
    goals: list[Condition] = Field(default_factory=list, description="met: the person leaves with reason goal")
    exit_when: list[Condition] = Field(default_factory=list, description="exit criteria, e.g. unsubscribed")
    reentry: str = Field(default="never", description="never, always, or a duration such as '30 days'")
    max_concurrent_journeys: int = Field(default=3, ge=1, description="a person is in at most this many at once")
    removed_steps: dict[str, str] = Field(
        default_factory=dict, description="a removed step id -> the step its people go to ('exit': they leave)"
    )
    schedule: str = Field(default="0 * * * *", description="evaluation schedule (cron)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a journey name (lowercase letters, digits and _)")
        return v

    @field_validator("reentry")
    @classmethod
    def _reentry(cls, v: str) -> str:
        if v not in ("never", "always"):
            parse_duration(v)
        return v

    @field_validator("goals", "exit_when")
    @classmethod
    def _window_kinds(cls, v: list[Condition]) -> list[Condition]:
        for c in v:
            if c.event is None and c.in_segment is None:
                raise ValueError("goals and exit criteria are an event or in_segment (met after entering)")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if len(v.split()) != 5:
            raise ValueError("must be a 5-field cron expression, e.g. '0 * * * *'")
        return v


class Journey(BaseModel):
    """A loaded, validated journey."""

    model_config = ConfigDict(frozen=True)
    spec: JourneySpec
    file: Path
    send_models: dict[str, str] = Field(default_factory=dict, description="send step id -> its sync's model")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def steps(self) -> dict[str, Step]:
        return {s.id: s for s in self.spec.steps}

    @property
    def first_step(self) -> str:
        return self.spec.steps[0].id

    def successors(self, step: Step) -> list[tuple[str, str]]:
        """(label, target) for every way out of ``step``; target ``''`` means the person leaves."""
        if step.kind == "exit":
            return []
        if step.kind == "branch":
            return [(f"branch {i}" if a.when else "default", a.target) for i, a in enumerate(step.branch or [])]
        if step.kind == "split":
            return [(f"split {a.arm}", a.next) for a in step.split or []]
        out = [("next", self.next_of(step))]
        if step.hold_until is not None:
            out.append(("timeout", step.hold_until.on_timeout))
        return out

    def next_of(self, step: Step) -> str:
        if step.next is not None:
            return "" if step.next == "exit" else step.next
        ids = [s.id for s in self.spec.steps]
        i = ids.index(step.id)
        return ids[i + 1] if i + 1 < len(ids) else ""

    @property
    def longest_wait(self) -> Duration:
        """The longest a person may rightly wait on one step (a time-of-day delay waits at most a day)."""
        hours = {"MINUTE": 1 / 60, "HOUR": 1, "DAY": 24, "WEEK": 168, "MONTH": 744, "YEAR": 8784}
        longest = 24.0 if any(isinstance(s.delay, DelayUntil) for s in self.spec.steps) else 0.0
        for s in self.spec.steps:
            if s.duration is not None:
                longest = max(longest, s.duration.amount * hours[s.duration.unit])
        return Duration(amount=max(1, int(longest + 0.999)), unit="HOUR")


# ------------------------------------------------------------------------------------------------ loading


def _loc(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and loc[0] == "steps":
                sid = (raw.get("steps") or [{}])[part].get("id") if isinstance(raw.get("steps"), list) else None
                out += f" ({sid})" if isinstance(sid, str) else ""
        elif part in ("str", "DelayUntil", "list[BranchArm]", "list[SplitArm]") or str(part).startswith("literal"):
            continue  # pydantic's union-member labels
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _pyd(shown: str, exc: ValidationError, raw: dict[str, Any]) -> JourneyError:
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    return JourneyError(f"{shown}: {_loc(first['loc'], raw)}: {msg}")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def journeys_dir() -> Path:
    from outflow.settings import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR / "journeys"


def _known_segments() -> set[str]:
    from outflow.segments.spec import load_segments
    from outflow.settings import DBT_PROJECT_DIR

    return set(load_segments(DBT_PROJECT_DIR / "segments"))


def _known_syncs() -> dict[str, Any]:
    from activations.config import load_syncs

    return {c.name: c for c in load_syncs()}


def load_journey(path: Path | str, *, segments: set[str] | None = None, syncs: dict[str, Any] | None = None) -> Journey:
    """Read and validate one journey file; raise JourneyError (one line: file and key) on any problem.

    ``segments`` / ``syncs``: what a journey may refer to (default: the project's declarations)."""
    path = Path(path)
    shown = _display(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JourneyError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise JourneyError(f"{shown}:{where} not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict):
        raise JourneyError(f"{shown}: (top level): must be a mapping with one journey")
    try:
        spec = JourneySpec.model_validate(raw)
    except ValidationError as exc:
        raise _pyd(shown, exc, raw) from None
    syncs = _known_syncs() if syncs is None else syncs
    journey = Journey(spec=spec, file=path)
    _check_references(journey, shown, _known_segments() if segments is None else segments, syncs)
    models = {s.id: syncs[s.send.sync].source for s in spec.steps if s.send is not None}
    return journey.model_copy(update={"send_models": models})


def _check_references(j: Journey, shown: str, segments: set[str], syncs: dict[str, Any]) -> None:
    spec = j.spec
    ids: dict[str, int] = {}
    for i, step in enumerate(spec.steps):
        if step.id in ids:
            raise JourneyError(f"{shown}: steps[{i}].id: step {step.id!r} is already declared at steps[{ids[step.id]}]")
        if step.id == "exit":
            raise JourneyError(f"{shown}: steps[{i}].id: 'exit' is reserved (next: exit leaves the journey)")
        ids[step.id] = i

    def need_step(target: str, key: str) -> None:
        if target and target != "exit" and target not in ids:
            raise JourneyError(f"{shown}: {key}: unknown step {target!r}; known: {', '.join(ids)}")

    def need_segment(name: str, key: str) -> None:
        if name not in segments:
            raise JourneyError(f"{shown}: {key}: unknown segment {name!r}; declare it in dbt_project/segments")

    def conds(cs: list[Condition], key: str) -> None:
        for k, c in enumerate(cs):
            for seg in c.segments():
                need_segment(seg, f"{key}[{k}]")

    if spec.entry.segment:
        need_segment(spec.entry.segment, "entry.segment")
    conds(spec.goals, "goals")
    conds(spec.exit_when, "exit_when")
    for old, target in spec.removed_steps.items():
        if old in ids:
            raise JourneyError(f"{shown}: removed_steps.{old}: step {old!r} still exists; remove it from the map")
        need_step(target, f"removed_steps.{old}")
    for i, step in enumerate(spec.steps):
        at = f"steps[{i}] ({step.id})"
        if step.next:
            need_step(step.next, f"{at}.next")
        if step.hold_until is not None:
            need_step(step.hold_until.on_timeout, f"{at}.hold_until.on_timeout")
            conds([step.hold_until.condition], f"{at}.hold_until.condition")
        for k, arm in enumerate(step.branch or []):
            need_step(arm.target, f"{at}.branch[{k}]")
            if arm.when is not None:
                conds([arm.when], f"{at}.branch[{k}].when")
        if step.split is not None:
            for k, sarm in enumerate(step.split):
                need_step(sarm.next, f"{at}.split[{k}].next")
            arms = [a.arm for a in step.split]
            if len(set(arms)) != len(arms):
                raise JourneyError(f"{shown}: {at}.split: arm names must be unique")
            total = sum(a.percent for a in step.split)
            if abs(total - 100) > 1e-9:
                raise JourneyError(f"{shown}: {at}.split: the percentages add up to {total:g}; they must add up to 100")
        if step.send is not None:
            sync = syncs.get(step.send.sync)
            if sync is None:
                raise JourneyError(
                    f"{shown}: {at}.send.sync: unknown sync {step.send.sync!r}; declare it in activations/syncs"
                )
            if sync.source not in SEND_MODELS:
                raise JourneyError(
                    f"{shown}: {at}.send.sync: sync {sync.name!r} reads {sync.source}, not a journey send model "
                    f"({', '.join(SEND_MODELS)})"
                )
    _check_cycles(j, shown)


def _check_cycles(j: Journey, shown: str) -> None:
    """A loop must pass through a delay or hold step, else one evaluation would spin through it for ever."""
    steps = j.steps
    edges = {s.id: [] if s.waits else [t for _, t in j.successors(s) if t and t != "exit"] for s in j.spec.steps}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                loop = stack[stack.index(nxt) :] + [nxt]
                i = [s.id for s in j.spec.steps].index(nxt)
                raise JourneyError(
                    f"{shown}: steps[{i}] ({nxt}): the steps {' -> '.join(loop)} form a loop with no delay; "
                    "add a delay or hold_until step to it"
                )
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for sid in steps:
        if sid not in state:
            visit(sid)


def load_journeys(directory: Path | str | None = None, *, syncs: dict[str, Any] | None = None) -> list[Journey]:
    """Every journey in ``directory`` (default ``dbt_project/journeys``), sorted by name; names are unique."""
    directory = Path(directory) if directory else journeys_dir()
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    segments = _known_segments()
    syncs = _known_syncs() if syncs is None else syncs
    out: dict[str, Journey] = {}
    for f in files:
        j = load_journey(f, segments=segments, syncs=syncs)
        if j.name in out:
            raise JourneyError(f"{_display(f)}: name: journey {j.name!r} is already declared in {out[j.name].file}")
        out[j.name] = j
    return [out[k] for k in sorted(out)]


def find_journey(name: str, directory: Path | str | None = None) -> Journey:
    from outflow.errors import did_you_mean

    journeys = load_journeys(directory)
    for j in journeys:
        if j.name == name:
            return j
    where = _display(Path(directory) if directory else journeys_dir())
    raise JourneyError(f"no journey named {name!r} in {where}{did_you_mean(name, [j.name for j in journeys])}")
