"""The time-travel harness: replay a journey over a virtual clock, and per-step counts for reports.

``simulate`` evaluates the journey at ``start``, ``start + step``, … up to ``end`` against the warehouse's data
(historical or generated), in its own schema (``outflow_journeys_sim`` by default) so live state is never touched;
the transitions stay in that schema's ``journey_history`` table. Tests use it to assert a hand-made person's path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from activations.journeys.engine import SCHEMA, Evaluation, ensure_tables, evaluate
from activations.journeys.spec import Journey
from outflow.warehouse import Warehouse
from outflow.warehouse.base import quote_ident

SIM_SCHEMA = "outflow_journeys_sim"
_TABLES = ("journey_state", "journey_history", "journey_sends", "journey_traits", "journey_runs", "journey_controls")


@dataclass
class StepCounts:
    step: str
    kind: str
    entered: int = 0
    waited: int = 0  # entered and were still there after the evaluation that brought them
    branched: int = 0  # left a branch or split step (arms in ``arms``)
    exited: int = 0  # left the journey from this step (exit step, end of the steps, exit criteria)
    goal: int = 0  # left from this step because they met a goal
    active: int = 0  # on this step now
    arms: dict[str, int] = field(default_factory=dict)
    sample: list[str] = field(default_factory=list)


@dataclass
class Simulation:
    journey: str
    start: datetime
    end: datetime
    evaluations: list[Evaluation]
    steps: list[StepCounts]
    schema: str

    @property
    def sends(self) -> int:
        return sum(e.sent for e in self.evaluations)


def parse_step(text: str) -> timedelta:
    """``1h``, ``30m``, ``1d`` -> timedelta (the harness's clock step)."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"--step {text!r}: use a number and a unit, e.g. 30m, 1h or 1d")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def reset(wh: Warehouse, journey: str, schema: str) -> None:
    ensure_tables(wh, schema)
    with wh.transaction():
        for table in _TABLES:
            wh.execute(f"delete from {quote_ident(schema)}.{table} where journey = ?", [journey])


def simulate(
    wh: Warehouse,
    journey: Journey,
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(hours=1),
    *,
    schema: str = SIM_SCHEMA,
    fresh: bool = True,
) -> Simulation:
    """Evaluate ``journey`` at every tick from ``start`` to ``end`` (inclusive); per-step counts of the replay."""
    if schema == SCHEMA:
        raise ValueError("simulate writes its own schema; it never replays into the live journey state")
    if fresh:
        reset(wh, journey.name, schema)
    evaluations = replay(wh, journey, start, end, step, schema=schema)
    return Simulation(journey.name, start, end, evaluations, step_counts(wh, journey, schema), schema)


def replay(
    wh: Warehouse, journey: Journey, start: datetime, end: datetime, step: timedelta, *, schema: str = SCHEMA
) -> list[Evaluation]:
    """Evaluate at ``start``, ``start + step``, … ``end``: the harness's clock, or a catch-up of live state."""
    ensure_tables(wh, schema)
    evaluations = []
    now = start
    while now <= end:
        evaluations.append(evaluate(wh, journey, now, schema=schema, prepared=True))
        now += step
    return evaluations


def step_counts(wh: Warehouse, journey: Journey, schema: str = SCHEMA, samples: int = 3) -> list[StepCounts]:
    """Per step: entered, waited, branched (by arm), exited, goal, on it now, and a few sample people."""
    s = quote_ident(schema)
    out = {st.id: StepCounts(st.id, st.kind) for st in journey.spec.steps}
    h = f"{s}.journey_history"
    rows = wh.execute(
        f"select h.to_step, count(*), sum(case when exists (select 1 from {h} o where o.journey = h.journey "
        f"and o.person_id = h.person_id and o.entry_seq = h.entry_seq and o.from_step = h.to_step "
        f"and o.moved_at = h.moved_at) "
        f"then 0 else 1 end) from {h} h where h.journey = ? and h.to_step is not null group by h.to_step",
        [journey.name],
    ).fetchall()
    for step, entered, waited in rows:
        if step in out:
            out[step].entered, out[step].waited = int(entered), int(waited or 0)
    rows = wh.execute(
        f"select from_step, to_step is null, reason, count(*) from {h} where journey = ? and from_step is not null "
        "group by 1, 2, 3",
        [journey.name],
    ).fetchall()
    for step, left, reason, n in rows:
        c = out.get(step)
        if c is None:
            continue
        if left and reason.startswith("goal"):
            c.goal += int(n)
        elif left:
            c.exited += int(n)
        elif c.kind in ("branch", "split"):
            c.branched += int(n)
            c.arms[reason] = c.arms.get(reason, 0) + int(n)
    for step, n in wh.execute(
        f"select step, count(*) from {s}.journey_state where journey = ? and status = 'active' group by 1",
        [journey.name],
    ).fetchall():
        if step in out:
            out[step].active = int(n)
    for step, person in wh.execute(
        f"select to_step, person_id from (select to_step, person_id, row_number() over (partition by to_step "
        f"order by moved_at, person_id) as rn from {h} where journey = ? and to_step is not null) x where rn <= ?",
        [journey.name, samples],
    ).fetchall():
        if step in out:
            out[step].sample.append(str(person))
    return list(out.values())


def person_history(wh: Warehouse, person_id: str, schema: str = SCHEMA) -> list[tuple]:
    """Every transition of one person, in every journey: (at, journey, entry, from, to, reason)."""
    ensure_tables(wh, schema)
    return wh.execute(
        f"select moved_at, journey, entry_seq, from_step, to_step, reason from {quote_ident(schema)}.journey_history "
        "where person_id = ? order by moved_at, journey, seq",
        [person_id],
    ).fetchall()


def path_of(wh: Warehouse, journey: str, person_id: str, schema: str = SIM_SCHEMA) -> list[tuple[str, str]]:
    """One person's path through one journey: [(step entered or '(left)', reason)], in order."""
    rows = wh.execute(
        f"select to_step, reason from {quote_ident(schema)}.journey_history where journey = ? and person_id = ? "
        "order by moved_at, seq",
        [journey, person_id],
    ).fetchall()
    return [(to or "(left)", reason) for to, reason in rows]


@dataclass
class JourneyRun:
    journey: str
    steps: list[StepCounts]
    evaluations: int
    sends: int


def catch_up(
    wh: Warehouse,
    journeys: list[Journey],
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(days=1),
) -> list[JourneyRun]:
    """Evaluate live journeys at every tick from ``start`` to ``end`` (the demo plays the generated data's last
    weeks this way); the sends land in the journey send models for the syncs."""
    out = []
    for j in journeys:
        evs = replay(wh, j, start, end, step)
        out.append(JourneyRun(j.name, step_counts(wh, j, SCHEMA), len(evs), sum(e.sent for e in evs)))
    return out
