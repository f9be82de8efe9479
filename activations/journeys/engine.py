"""Journey evaluation in the warehouse, set-based and portable (DuckDB and PostgreSQL), through outflow.warehouse.

One evaluation of a journey at time ``now`` (a virtual clock: the harness passes any time) runs in ONE transaction:

1. live edits: people on a step that no longer exists go to ``removed_steps[step]`` or exit (reason logged);
2. goals and exit criteria: people who met them since the last evaluation leave;
3. admission (unless paused or draining): people who entered the segment, or had the entry event, since the last
   evaluation, subject to the re-entry rule and the cap on concurrent journeys;
4. advance: everyone whose ``due_at`` has passed (or whose hold condition now holds) moves one step, repeatedly,
   until everyone waits on a delay or hold step or has left; sends and trait updates are written as they pass;
5. the run marker (``journey_runs``), which records ``now``: an evaluation at or before the last marker is a no-op.

A crash anywhere rolls the whole evaluation back, so a re-run advances nobody twice and sends nothing twice; sends
are also keyed by a stable idempotency key (journey, step, person, entry number) and inserted only if new.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from activations.journeys.spec import Condition, DelayUntil, Journey, JourneyError, Step
from outflow.segments.spec import parse_duration
from outflow.warehouse import Warehouse
from outflow.warehouse.base import quote_ident

log = logging.getLogger(__name__)

SCHEMA = "outflow_journeys"
EVENTS = "main.fct_events"
MEMBERSHIP = "main.segment_membership_history"
PROFILE_TABLES = ("main.dim_profiles", "main.dim_profile_traits", "main.fct_lead_scores")
CRASH_ENV = "OUTFLOW_JOURNEY_CRASH_AT"  # tests: kill the process at a named point of an evaluation

_DDL = {
    "journey_state": "journey varchar, person_id varchar, entry_seq bigint, step varchar, status varchar, "
    "entered_at timestamp, step_entered_at timestamp, due_at timestamp, path varchar, time_zone varchar, "
    "properties varchar, exited_at timestamp, exit_reason varchar",
    "journey_history": "journey varchar, person_id varchar, entry_seq bigint, from_step varchar, to_step varchar, "
    "reason varchar, moved_at timestamp, seq bigint, run_id varchar",
    "journey_sends": "idempotency_key varchar, journey varchar, step varchar, sync_name varchar, model varchar, "
    "person_id varchar, channel varchar, purpose varchar, message varchar, properties varchar, "
    "entered_at timestamp, emitted_at timestamp, run_id varchar",
    "journey_traits": "person_id varchar, trait varchar, value varchar, journey varchar, step varchar, "
    "updated_at timestamp",
    "journey_runs": "run_id varchar, journey varchar, as_of timestamp, started_at timestamp, status varchar, "
    "admitted bigint, moved bigint, exited bigint, sent bigint, steps varchar",
    "journey_controls": "journey varchar, mode varchar, set_at timestamp",
}
_INDEXES = {  # PostgreSQL: evaluation reads only the due rows (DuckDB prunes by its min/max zone maps)
    "journey_state_due": "journey_state (journey, due_at)",
    "journey_state_person": "journey_state (person_id, journey)",
    "journey_history_person": "journey_history (person_id)",
    "journey_sends_key": "journey_sends (idempotency_key)",
    "journey_runs_journey": "journey_runs (journey, as_of)",
}


@dataclass
class Evaluation:
    journey: str
    as_of: datetime
    status: str = "ok"  # ok | paused | draining | skipped (already evaluated up to as_of)
    run_id: str = ""
    admitted: int = 0
    moved: int = 0
    exited: int = 0
    sent: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def ensure_tables(wh: Warehouse, schema: str = SCHEMA) -> None:
    wh.create_schema(schema)
    for table, cols in _DDL.items():
        wh.execute(f"create table if not exists {quote_ident(schema)}.{table} ({cols})")
    if wh.target == "postgres":
        for name, on in _INDEXES.items():
            wh.execute(f"create index if not exists {name} on {quote_ident(schema)}.{on}")


def _lit(value: Any) -> str:
    """A SQL literal for a declared value (journey YAML, never user data at run time)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        return f"cast('{value.isoformat(sep=' ')}' as timestamp)"
    return "'" + str(value).replace("'", "''") + "'"


def _interval(text: str) -> str:
    d = parse_duration(text)
    return f"interval '{d.amount} {d.unit.lower()}s'"


def hash_bucket(wh: Warehouse, expr: str) -> str:
    """A stable bucket in [0, 10000) from a string: the first 32 bits of its md5 (as the dbt macro
    outflow_hash_bucket), the same on every engine."""
    if wh.target == "duckdb":
        return f"(cast(('0x' || substr(md5({expr}), 1, 8)) as ubigint) % 10000)"
    return f"(cast(cast('x' || substr(md5({expr}), 1, 8) as bit(32)) as bigint) % 10000)"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        log.error("journey evaluation killed at %s (%s)", name, CRASH_ENV)
        os._exit(75)


class _Ctx:
    """One evaluation's SQL context: names, the clock, the window since the last evaluation."""

    def __init__(self, wh: Warehouse, journey: Journey, now: datetime, since: datetime, schema: str) -> None:
        self.wh, self.j, self.now, self.since = wh, journey, now, since
        self.s = quote_ident(schema)
        self.name = _lit(journey.name)
        self.now_sql = _lit(now)
        self.since_sql = _lit(since)
        self._fields: dict[str, tuple[str, str]] | None = None
        self.joins: dict[str, str] = {}
        self.send_models = journey.send_models
        self.seq = 0  # order of the transitions within this evaluation (journey_history.seq)

    def t(self, table: str) -> str:
        return f"{self.s}.{table}"

    def due_filter(self, alias: str) -> str:
        """The state rows an advance may move: due now, or waiting on a hold step (its condition may hold)."""
        holds = [_lit(st.id) for st in self.j.spec.steps if st.hold_until is not None]
        due = f"{alias}.status = 'active' and {alias}.due_at <= {self.now_sql}"
        return f"({due} or {alias}.step in ({', '.join(holds)}))" if holds else f"({due})"

    def field(self, name: str, where: str) -> str:
        """``alias.column`` for a profile field, joining its table; unknown fields are one clear line."""
        if self._fields is None:
            self._fields = {}
            for i, table in enumerate(PROFILE_TABLES):
                schema, _, tname = table.partition(".")
                for col in self.wh.columns(schema, tname):
                    self._fields.setdefault(col, (table, f"p{i}"))
        if name not in self._fields:
            raise JourneyError(f"{self.j.file}: {where}: field {name!r} is not a column of {', '.join(PROFILE_TABLES)}")
        table, alias = self._fields[name]
        self.joins[alias] = f"left join {table} {alias} on {alias}.person_id = s.person_id"
        return f"{alias}.{quote_ident(name)}"

    def cond(self, c: Condition, where: str, since_col: str) -> str:
        """SQL for a condition about the state row ``s``; events count after ``s.<since_col>``, up to now."""
        if c.all:
            return "(" + " and ".join(self.cond(x, where, since_col) for x in c.all) + ")"
        if c.any:
            return "(" + " or ".join(self.cond(x, where, since_col) for x in c.any) + ")"
        if c.event:
            return (
                f"exists (select 1 from {EVENTS} e where e.person_id = s.person_id and e.event_type = {_lit(c.event)}"
                f" and e.occurred_at > s.{since_col} and e.occurred_at <= {self.now_sql})"
            )
        if c.in_segment or c.not_in_segment:
            seg = c.in_segment or c.not_in_segment
            sql = (
                f"exists (select 1 from {MEMBERSHIP} h where h.person_id = s.person_id and h.segment = {_lit(seg)}"
                f" and h.entered_at <= {self.now_sql} and (h.exited_at is null or h.exited_at > {self.now_sql}))"
            )
            return sql if c.in_segment else f"not {sql}"
        col = self.field(c.field or "", where)
        op, v = c.op, c.value
        if op in ("in", "not in"):
            values = v if isinstance(v, list) else [v]
            return f"coalesce({col} {op} ({', '.join(_lit(x) for x in values)}), false)"
        if op in ("is empty", "is not empty"):
            empty = f"({col} is null or cast({col} as varchar) = '')"
            return empty if op == "is empty" else f"not {empty}"
        if op in ("contains", "not contains", "starts with", "ends with"):
            pattern = {"contains": "%{}%", "not contains": "%{}%", "starts with": "{}%", "ends with": "%{}"}[op]
            like = f"coalesce(cast({col} as varchar) like {_lit(pattern.format(v))}, false)"
            return f"not {like}" if op == "not contains" else like
        return f"coalesce({col} {op} {_lit(v)}, false)"

    def due_at(self, to_step: str) -> str:
        """SQL for when a person entering ``to_step`` (the column) next needs attention."""
        whens = []
        for step in self.j.spec.steps:
            if isinstance(step.delay, str):
                whens.append(f"when {_lit(step.id)} then {self.now_sql} + {_interval(step.delay)}")
            elif isinstance(step.delay, DelayUntil):
                whens.append(f"when {_lit(step.id)} then {self.time_of_day(step.delay)}")
            elif step.hold_until is not None:
                whens.append(f"when {_lit(step.id)} then {self.now_sql} + {_interval(step.hold_until.timeout)}")
        return f"case {to_step} {' '.join(whens)} else {self.now_sql} end" if whens else self.now_sql

    def time_of_day(self, d: DelayUntil) -> str:
        """The next ``d.until`` in the person's time zone (state column ``time_zone``, UTC if unknown), in UTC."""
        tz = "coalesce(time_zone, 'UTC')"
        local = f"(({self.now_sql} at time zone 'UTC') at time zone {tz})"
        at = f"(date_trunc('day', {local}) + interval '{d.at.hour * 60 + d.at.minute} minutes')"
        nxt = f"(case when {at} <= {local} then {at} + interval '1 day' else {at} end)"
        return f"cast(({nxt} at time zone {tz}) at time zone 'UTC' as timestamp)"


def _target(t: str) -> str:
    return "" if t == "exit" else t


def _step_moves(ctx: _Ctx, i: int, step: Step) -> str | None:
    """SELECT person_id, from_step, to_step ('' = leaves), reason for the people this step moves now."""
    j = ctx.j
    at = f"steps[{i}] ({step.id})"
    due = f"s.due_at <= {ctx.now_sql}"
    to, reason = _lit(_target(j.next_of(step))), "'next'"
    kind = step.kind
    if kind == "delay":
        reason = "'delay over'"
    elif kind == "hold_until":
        h = step.hold_until
        assert h is not None
        met = ctx.cond(h.condition, f"{at}.hold_until.condition", "step_entered_at")
        to = f"case when {met} then {to} else {_lit(_target(h.on_timeout))} end"
        reason = f"case when {met} then 'condition met' else 'timeout' end"
        due = f"({due} or {met})"
    elif kind == "branch":
        arms = step.branch or []
        whens = [(ctx.cond(a.when, f"{at}.branch[{k}].when", "entered_at"), a) for k, a in enumerate(arms) if a.when]
        to = (
            "case "
            + " ".join(f"when {c} then {_lit(_target(a.target))}" for c, a in whens)
            + f" else {_lit(_target(arms[-1].target))} end"
        )
        reason = (
            "case " + " ".join(f"when {c} then 'branch {k}'" for k, (c, _) in enumerate(whens)) + " else 'default' end"
        )
    elif kind == "split":
        bucket = hash_bucket(ctx.wh, f"{ctx.name} || ':' || {_lit(step.id)} || ':' || s.person_id")
        edge, to_w, why_w = 0.0, [], []
        for arm in step.split or []:
            edge += arm.percent * 100
            to_w.append(f"when {bucket} < {round(edge)} then {_lit(_target(arm.next))}")
            why_w.append(f"when {bucket} < {round(edge)} then {_lit('split ' + arm.arm)}")
        to = f"case {' '.join(to_w)} end"
        reason = f"case {' '.join(why_w)} end"
    elif kind == "send":
        reason = _lit(f"sent {step.send.message}")  # type: ignore[union-attr]
    elif kind == "update":
        reason = _lit(f"set {step.update.trait} = {step.update.value}")  # type: ignore[union-attr]
    elif kind == "exit":
        to, reason = "''", "'exit step'"
    joins = " ".join(ctx.joins.values())
    ctx.joins.clear()
    return (
        f"select s.person_id, s.step as from_step, {to} as to_step, {reason} as reason, {_CARRY} "
        f"from {ctx.t('journey_state')} s "
        f"{joins} where s.journey = {ctx.name} and s.status = 'active' and s.step = {_lit(step.id)} and {due}"
    )


def _values(rows: list[tuple], columns: str) -> str:
    """An inline table of declared values: ``(values (...), (...)) as v(columns)``."""
    return f"(values {', '.join('(' + ', '.join(_lit(x) for x in r) + ')' for r in rows)}) as v({columns})"


_CARRY = "s.entry_seq, s.properties, s.entered_at"  # state columns a move carries, so history and sends need no join


def _apply_moves(ctx: _Ctx, run_id: str, ev: Evaluation, *, due_only: bool = False) -> int:
    """Apply the moves in temp table _j_mv: history, sends, traits, then the state rows. Returns how many moved.

    ``due_only``: every mover is due or on a hold step, so the state update reads only those rows."""
    wh, st, now = ctx.wh, ctx.t("journey_state"), ctx.now_sql
    n = 0
    for reason, left, count in wh.execute("select reason, to_step = '', count(*) from _j_mv group by 1, 2").fetchall():
        ev.by_reason[reason] = ev.by_reason.get(reason, 0) + count
        ev.exited += count if left else 0
        n += count
    if not n:
        return 0
    ctx.seq += 1
    joined = "from _j_mv m"
    wh.execute(
        f"insert into {ctx.t('journey_history')} select {ctx.name}, m.person_id, m.entry_seq, m.from_step, "
        f"case when m.to_step = '' then null else m.to_step end, m.reason, {now}, {ctx.seq}, {_lit(run_id)} {joined}"
    )
    sends = [
        (st_.id, st_.send.sync, ctx.send_models[st_.id], st_.send.channel, st_.send.purpose, st_.send.message)
        for st_ in ctx.j.spec.steps
        if st_.send is not None
    ]
    if sends:
        key = f"md5({ctx.name} || ':' || m.from_step || ':' || m.person_id || ':' || cast(m.entry_seq as varchar))"
        wh.execute(
            f"insert into {ctx.t('journey_sends')} select {key}, {ctx.name}, m.from_step, v.sync_name, v.model, "
            f"m.person_id, v.channel, v.purpose, v.message, m.properties, m.entered_at, {now}, {_lit(run_id)} "
            f"{joined} join {_values(sends, 'step, sync_name, model, channel, purpose, message')} "
            f"on v.step = m.from_step where not exists (select 1 from {ctx.t('journey_sends')} x "
            f"where x.idempotency_key = {key})"
        )
        _crash_point("after_send")
    updates = [(st_.id, st_.update.trait, str(st_.update.value)) for st_ in ctx.j.spec.steps if st_.update]
    if updates:
        tr, vals = ctx.t("journey_traits"), _values(updates, "step, trait, value")
        moved = f"from _j_mv m join {vals} on v.step = m.from_step"
        wh.execute(
            f"delete from {tr} where exists (select 1 {moved} where m.person_id = {tr}.person_id "
            f"and v.trait = {tr}.trait)"
        )
        wh.execute(f"insert into {tr} select m.person_id, v.trait, v.value, {ctx.name}, v.step, {now} {moved}")
    wh.execute(
        f"update {st} set "
        f"step = case when m.to_step = '' then m.from_step else m.to_step end, "
        f"status = case when m.to_step = '' then 'exited' else 'active' end, "
        f"step_entered_at = {now}, due_at = {ctx.due_at('m.to_step')}, "
        f"path = path || '>' || case when m.to_step = '' then 'exit' else m.to_step end, "
        f"exited_at = case when m.to_step = '' then {now} end, "
        f"exit_reason = case when m.to_step = '' then m.reason end "
        f"from _j_mv m where {st}.journey = {ctx.name} and {st}.person_id = m.person_id"
        + (f" and {ctx.due_filter(st)}" if due_only else "")
    )
    return n


def _moves(ctx: _Ctx, select: str) -> None:
    ctx.wh.execute("drop table if exists _j_mv")
    ctx.wh.execute(f"create temp table _j_mv as {select}")


def _control(wh: Warehouse, journey: str, schema: str) -> str:
    row = wh.execute(
        f"select mode from {quote_ident(schema)}.journey_controls where journey = ? order by set_at desc limit 1",
        [journey],
    ).fetchone()
    return row[0] if row else "active"


def set_control(wh: Warehouse, journey: str, mode: str, schema: str = SCHEMA) -> None:
    """``paused``: nobody advances or enters (state kept); ``draining``: no new entries; ``active``."""
    if mode not in ("active", "paused", "draining"):
        raise JourneyError(f"journey mode {mode!r}: use active, paused or draining")
    ensure_tables(wh, schema)
    with wh.transaction():
        wh.execute(f"delete from {quote_ident(schema)}.journey_controls where journey = ?", [journey])
        wh.execute(
            f"insert into {quote_ident(schema)}.journey_controls values (?, ?, cast(now() as timestamp))",
            [journey, mode],
        )


def _admit(ctx: _Ctx, run_id: str) -> int:
    wh, j, st, now = ctx.wh, ctx.j, ctx.t("journey_state"), ctx.now_sql
    entry = j.spec.entry
    window = f"> {ctx.since_sql} and {{col}} <= {now}"
    if entry.segment:
        found = wh.fetch_arrow(
            f"select h.person_id, min(h.entered_at) as trigger_at from {MEMBERSHIP} h "
            f"where h.segment = {_lit(entry.segment)} and h.entered_at {window.format(col='h.entered_at')} "
            f"and (h.exited_at is null or h.exited_at > {now}) group by h.person_id"
        ).to_pylist()
        why = f"entered: segment {entry.segment}"
    else:
        carry = "".join(f", e.{quote_ident(c)}" for c in entry.carry)
        found = wh.fetch_arrow(
            f"select person_id, trigger_at{''.join(f', {quote_ident(c)}' for c in entry.carry)} from ("
            f"select e.person_id, e.occurred_at as trigger_at{carry}, row_number() over "
            f"(partition by e.person_id order by e.occurred_at) as rn from {EVENTS} e "
            f"where e.event_type = {_lit(entry.event)} and e.occurred_at {window.format(col='e.occurred_at')}"
            f") x where rn = 1"
        ).to_pylist()
        why = f"entered: event {entry.event}"
    if not found:
        return 0
    import pyarrow as pa

    rows = pa.table(
        {
            "person_id": [str(r["person_id"]) for r in found],
            "props": [json.dumps({c: r[c] for c in entry.carry}, default=str) if entry.carry else None for r in found],
        },
        schema=pa.schema([("person_id", pa.string()), ("props", pa.string())]),
    )
    wh.execute("drop table if exists _j_in")
    wh.write_arrow("_j_in", rows, mode="create", temporary=True)
    if j.spec.reentry == "never":
        again = "false"
    elif j.spec.reentry == "always":
        again = "true"
    else:
        again = f"s.exited_at <= {now} - {_interval(j.spec.reentry)}"
    wh.execute("drop table if exists _j_adm")
    wh.execute(
        f"create temp table _j_adm as select i.person_id, i.props, coalesce(s.entry_seq, 0) + 1 as entry_seq "
        f"from _j_in i left join {st} s on s.journey = {ctx.name} and s.person_id = i.person_id "
        f"where (s.person_id is null or (s.status = 'exited' and {again})) "
        f"and (select count(*) from {st} a where a.person_id = i.person_id and a.status = 'active') "
        f"< {j.spec.max_concurrent_journeys}"
    )
    wh.execute(f"delete from {st} where journey = {ctx.name} and person_id in (select person_id from _j_adm)")
    first = _lit(j.first_step)
    tz = "p.timezone" if "timezone" in wh.columns("main", "dim_profiles") else "cast(null as varchar)"
    wh.execute(
        f"insert into {st} select {ctx.name}, a.person_id, a.entry_seq, {first}, 'active', {now}, {now}, {now}, "
        f"{first}, {tz}, a.props, cast(null as timestamp), cast(null as varchar) from _j_adm a "
        f"left join main.dim_profiles p on p.person_id = a.person_id"
    )
    if j.spec.steps[0].waits:  # the first step is a wait: its clock starts now, in the person's time zone
        wh.execute(
            f"update {st} set due_at = {ctx.due_at('step')} where journey = {ctx.name} "
            "and person_id in (select person_id from _j_adm)"
        )
    ctx.seq += 1
    wh.execute(
        f"insert into {ctx.t('journey_history')} select {ctx.name}, person_id, entry_seq, null, {first}, "
        f"{_lit(why)}, {now}, {ctx.seq}, {_lit(run_id)} from _j_adm"
    )
    return wh.execute("select count(*) from _j_adm").fetchone()[0]


def _goal_moves(ctx: _Ctx) -> str | None:
    """People who met a goal or an exit criterion since the last evaluation (and after they entered)."""
    parts = []
    for kind, conds in (("goal", ctx.j.spec.goals), ("exit criteria", ctx.j.spec.exit_when)):
        for c in conds:
            if c.event:
                src = (
                    f"select e.person_id from {EVENTS} e where e.event_type = {_lit(c.event)} and e.occurred_at > "
                    f"{ctx.since_sql} and e.occurred_at <= {ctx.now_sql}"
                )
                after = f"exists (select 1 from {EVENTS} e where e.person_id = s.person_id and e.event_type = "
                after += f"{_lit(c.event)} and e.occurred_at > s.entered_at and e.occurred_at <= {ctx.now_sql})"
                label = f"{kind}: {c.event}"
            else:
                src = (
                    f"select h.person_id from {MEMBERSHIP} h where h.segment = {_lit(c.in_segment)} and "
                    f"h.entered_at > {ctx.since_sql} and h.entered_at <= {ctx.now_sql}"
                )
                after = "true"
                label = f"{kind}: segment {c.in_segment}"
            parts.append(
                f"select s.person_id, s.step as from_step, '' as to_step, {_lit(label)} as reason, {_CARRY} "
                f"from {ctx.t('journey_state')} s where s.journey = {ctx.name} and s.status = 'active' "
                f"and s.person_id in ({src}) and {after}"
            )
    if not parts:
        return None
    union = " union all ".join(parts)
    return (
        "select person_id, min(from_step) as from_step, '' as to_step, min(reason) as reason, "
        "min(entry_seq) as entry_seq, min(properties) as properties, min(entered_at) as entered_at "
        f"from ({union}) g group by person_id"
    )


def evaluate(
    wh: Warehouse, journey: Journey, now: datetime, *, schema: str = SCHEMA, prepared: bool = False
) -> Evaluation:
    """Evaluate ``journey`` at ``now`` (naive UTC) in one transaction; see the module docstring.
    ``prepared``: the caller has run :func:`ensure_tables` on this schema."""
    if not prepared:
        ensure_tables(wh, schema)
    ev = Evaluation(journey.name, now)
    mode = _control(wh, journey.name, schema)
    if mode == "paused":
        ev.status = "paused"  # no run marker: the entries of the pause are admitted when it resumes
        return ev
    s = quote_ident(schema)
    with wh.transaction():
        last, steps = None, None
        row = wh.execute(
            f"select as_of, steps from {s}.journey_runs where journey = ? order by as_of desc limit 1", [journey.name]
        ).fetchone()
        if row:
            last, steps = row
        if last is not None and now <= last:
            ev.status = "skipped"
            return ev
        since = last if last is not None else now - _lookback(journey)
        ctx = _Ctx(wh, journey, now, since, schema)
        ev.run_id = run_id = uuid.uuid4().hex
        fingerprint = ",".join(sorted(journey.steps))
        if steps is not None and steps != fingerprint:
            _migrate(ctx, run_id, ev)
        goals = _goal_moves(ctx)
        if goals:
            _moves(ctx, goals)
            _apply_moves(ctx, run_id, ev)
        if mode != "draining":
            ev.admitted = _admit(ctx, run_id)
        _crash_point("after_admit")
        selects = [q for i, st in enumerate(journey.spec.steps) if (q := _step_moves(ctx, i, st))]
        for _ in range(len(selects) + 2):
            _moves(ctx, " union all ".join(selects))
            moved = _apply_moves(ctx, run_id, ev, due_only=True)
            ev.moved += moved
            if not moved:
                break
        ev.sent = wh.execute(f"select count(*) from {s}.journey_sends where run_id = ?", [run_id]).fetchone()[0]
        _crash_point("before_commit")
        ev.status = "draining" if mode == "draining" else "ok"
        wh.execute(
            f"insert into {s}.journey_runs values (?, ?, ?, cast(now() as timestamp), ?, ?, ?, ?, ?, ?)",
            [run_id, journey.name, now, ev.status, ev.admitted, ev.moved, ev.exited, ev.sent, fingerprint],
        )
        for t in ("_j_mv", "_j_in", "_j_adm"):
            wh.execute(f"drop table if exists {t}")
    return ev


def _lookback(journey: Journey) -> timedelta:
    d = parse_duration(journey.spec.entry.lookback)
    per = {"MINUTE": 60, "HOUR": 3600, "DAY": 86400, "WEEK": 604800, "MONTH": 2592000, "YEAR": 31536000}
    return timedelta(seconds=d.amount * per[d.unit])


def _migrate(ctx: _Ctx, run_id: str, ev: Evaluation) -> None:
    """A live edit removed steps: their people go to the declared fallback, or exit; the reason is logged."""
    known = ", ".join(_lit(i) for i in ctx.j.steps)
    fallback = " ".join(f"when {_lit(old)} then {_lit(_target(new))}" for old, new in ctx.j.spec.removed_steps.items())
    to = f"case s.step {fallback} else '' end" if fallback else "''"
    reason = f"'step removed: ' || s.step || case when {to} = '' then ' -> exit' else ' -> ' || {to} end"
    _moves(
        ctx,
        f"select s.person_id, s.step as from_step, {to} as to_step, {reason} as reason, {_CARRY} from "
        f"{ctx.t('journey_state')} s where s.journey = {ctx.name} and s.status = 'active' and s.step not in ({known})",
    )
    moved = _apply_moves(ctx, run_id, ev)
    if moved:
        log.warning("journey %s: %d people were on removed steps (moved to the fallback or out)", ctx.j.name, moved)


def evaluation_interval(cron: str) -> timedelta:
    """How often a 5-field cron schedule fires, roughly: an hour when the hour field repeats, else a day (a week
    when the day fields are restricted)."""
    minute, hour, dom, _month, dow = cron.split()
    if hour == "*" or "/" in hour or "," in hour or "-" in hour:
        return timedelta(hours=1)
    return timedelta(days=1) if dom == "*" and dow == "*" else timedelta(days=7)


def stuck(wh: Warehouse, journey: Journey, now: datetime, schema: str = SCHEMA) -> tuple[int, list[str]]:
    """People still on a step longer than the journey's longest wait plus one evaluation: (count, a few ids)."""
    ensure_tables(wh, schema)
    w = journey.longest_wait
    limit = now - timedelta(hours=w.amount) - evaluation_interval(journey.spec.schedule)
    rows = wh.execute(
        f"select person_id from {quote_ident(schema)}.journey_state where journey = ? and status = 'active' "
        "and step_entered_at < ? order by step_entered_at, person_id",
        [journey.name, limit],
    ).fetchall()
    return len(rows), [r[0] for r in rows[:5]]
