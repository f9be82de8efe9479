"""Erasure and opt-out as first-class operations: what was sent where, the erasure ledger, the erasure run,
the per-person erasure report and reconciliation with what a destination holds.

Tables (schema ``outflow_sync``, beside the sync state; written only here and by the engine's commit hook):

- ``sync_destinations``: per sync name, the destination it sent to (type, base URL, the whole validated
  declaration as JSON; secrets are environment variable NAMES, never values). An erasure reaches a destination
  from this record even when the sync's YAML was renamed or deleted.
- ``sync_sent``: per (sync, key) ever acknowledged, the person (when the row names one), a SHA-256 subject
  hash of the key when the key is an email, and the identifiers the destination actually sent for it
  (ad platforms: hashed as sent, never raw). Removals and erasures carry exactly these identifiers.
- ``erasure_ledger``: one row per erasure request ever seen, reduced to a hashed record (SHA-256 of
  ``type:normalized identifier``, the request id and its time). It only grows; the dbt model ``erased_persons``
  suppresses anyone matching it as well as the raw requests.
- ``erasure_log`` and ``erasure_runs``: every erasure sent and its acknowledgement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from activations.config import SyncConfig, resolve_secret
from activations.destinations import DESTINATIONS
from activations.destinations.base import Destination, Record, RowResult, idempotency_key
from activations.state import LEGACY, SCHEMA, ensure_schema, ns, temp_text_table
from outflow.contract import ERASED_IDENTIFIER_PREFIX
from outflow.errors import OutflowError

log = logging.getLogger(__name__)

DDL = [
    """CREATE TABLE IF NOT EXISTS {ns}.sync_destinations (
        sync_name VARCHAR PRIMARY KEY,
        destination_type VARCHAR NOT NULL,
        base_url VARCHAR NOT NULL,
        config_json VARCHAR NOT NULL,
        first_seen_at TIMESTAMP,
        last_seen_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.sync_sent (
        sync_name VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        person_id VARCHAR,
        subject VARCHAR,
        identifiers VARCHAR,
        first_sent_at TIMESTAMP,
        last_sent_at TIMESTAMP,
        run_id VARCHAR,
        erased_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.erasure_ledger (
        request_id VARCHAR PRIMARY KEY,
        identifier_type VARCHAR NOT NULL,
        subject_hash VARCHAR NOT NULL,
        requested_at TIMESTAMP,
        recorded_at TIMESTAMP,
        processed_at TIMESTAMP
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.erasure_runs (
        run_id VARCHAR PRIMARY KEY,
        started_at TIMESTAMP,
        finished_at TIMESTAMP,
        status VARCHAR,
        requests_recorded BIGINT,
        persons BIGINT,
        sent BIGINT,
        acked BIGINT,
        failed BIGINT,
        error VARCHAR
    )""",
    """CREATE TABLE IF NOT EXISTS {ns}.erasure_log (
        run_id VARCHAR NOT NULL,
        person_id VARCHAR,
        subject VARCHAR,
        sync_name VARCHAR NOT NULL,
        destination_type VARCHAR,
        base_url VARCHAR,
        key_hash VARCHAR,
        action VARCHAR,
        identifiers_sent BIGINT,
        status VARCHAR,
        message VARCHAR,
        logged_at TIMESTAMP
    )""",
]
PRIVACY_TABLES = ("sync_destinations", "sync_sent", "erasure_ledger", "erasure_runs", "erasure_log")


def _privacy_for_reading(warehouse: Path | str | None) -> tuple[Any, str]:
    """A session for a report that only reads the privacy tables: read-only when they are in place (so it runs
    beside other readers and writes nothing); read-write only to create them, on first use or an old layout."""
    from activations.rows import state_for_reading
    from outflow.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        q = state_for_reading(con)  # the sync state in place, of today's layout
    except OutflowError:
        q = None
    if q is not None and all(con.table_exists(SCHEMA, t) for t in PRIVACY_TABLES):
        return con, q
    con.close()
    con = connect(warehouse)
    return con, ensure_privacy_schema(con)


def ensure_privacy_schema(con: Any) -> str:
    """Create the outflow_sync schema (sync state) and the privacy tables; return the qualified schema."""
    ensure_schema(con)
    q = ns(con)
    for stmt in DDL:
        con.execute(stmt.format(ns=q))
    return q


# --- subjects: the hashed form of an identifier -------------------------------------------------------------


# An address as the models emit it (validated, lower case, ASCII): its matching form needs no validation again.
# Anything else (a label with "--" such as punycode, a special-use domain, an over-long part) is validated.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_CLEAN_ADDRESS = re.compile(rf"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:{_LABEL}\.)+([a-z]{{2,63}})")


def canonical_email(value: str | None) -> str | None:
    """The matching form of an email, exactly as the identity graph computes it (``outflow.normalize.email``:
    unwrapped, validated, lower case, plus-tag removed; gmail dots removed), or None if it is not an email."""
    if value is None:
        return None
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    from outflow import normalize  # phonenumbers, pycountry and email-validator load only when an email is read

    text = str(value)
    clean = _CLEAN_ADDRESS.fullmatch(text)
    if (
        clean
        and "--" not in text.rsplit("@", 1)[1]  # punycode and other reserved labels: validation decides
        and len(text) <= 254
        and text.index("@") <= 64
        and (clean.group(1) not in SPECIAL_USE_DOMAIN_NAMES)
    ):  # a sync key as the models emit it: every sent row of a large first run comes here
        return normalize.canonical_address(text)
    return normalize.email(text).canonical


def subject_hash(identifier_type: str, normalized_value: str) -> str:
    """SHA-256 of ``type:value`` (value as the staging models normalize it); what the ledger keeps."""
    return hashlib.sha256(f"{identifier_type}:{normalized_value}".encode()).hexdigest()


def key_subject(key: str) -> str | None:
    """The subject hash of a sync key that is an email address, else None."""
    email = canonical_email(key)
    return subject_hash("email", email) if email else None


def key_hash(sync_name: str, key: str) -> str:
    return hashlib.sha256(f"{sync_name}\x1f{key}".encode()).hexdigest()


def erased_key(sync_name: str, key: str) -> str:
    """What the run log keeps of an erased person's key: its hash, marked."""
    return "erased:" + key_hash(sync_name, key)


# --- the engine's hook: what was sent, to which destination ---------------------------------------------------
class SentRecorder:
    """Records, in the same transaction as the sync state, every acknowledged (sync, key) and the identifiers
    the destination sent for it; hands removals the identifiers that were sent.

    ``record(con, run_id, pending, acked_where)`` is called by the engine inside its commit transaction;
    ``lookup(con, keys)`` returns ``{key: [identifier set, ...]}`` for rows about to be removed."""

    def __init__(self, con: Any, cfg: SyncConfig, dest: Destination) -> None:
        self.cfg, self.dest = cfg, dest
        self.q = ensure_privacy_schema(con)
        names = list(cfg.fields)
        self.person_sql = "NULL"
        if cfg.primary_key == "person_id":
            self.person_sql = "p._key"
        elif "person_id" in names:
            self.person_sql = f"CAST(p.c{names.index('person_id')} AS VARCHAR)"
        self.key_is_person = cfg.primary_key == "person_id"
        self.python = dest.records_sent_identifiers or not self.key_is_person
        self.fields = list(cfg.fields.values())
        config = cfg.model_dump(mode="json", exclude={"path"})
        con.execute(
            f"""INSERT INTO {self.q}.sync_destinations
                (sync_name, destination_type, base_url, config_json, first_seen_at, last_seen_at)
                VALUES (?, ?, ?, ?, now()::TIMESTAMP, now()::TIMESTAMP)
                ON CONFLICT (sync_name) DO UPDATE SET destination_type = excluded.destination_type,
                base_url = excluded.base_url, config_json = excluded.config_json,
                last_seen_at = excluded.last_seen_at""",
            [cfg.name, cfg.destination.type, cfg.destination.base_url, json.dumps(config, sort_keys=True)],
        )

    def record(self, con: Any, run_id: str, pending: str, acked_where: str) -> None:
        """Append what this commit's acknowledged rows sent: one row per new key, and for destinations that
        record identifiers one more per changed key whose identifiers are new. Append-only (no index to
        maintain), so the cost per batch stays that of the batch; readers merge the rows of a key."""
        q, name = self.q, self.cfg.name
        if not self.python:  # keyed by person, nothing beyond the key to keep: one set-based statement
            con.execute(
                f"""INSERT INTO {q}.sync_sent (sync_name, key, person_id, first_sent_at, last_sent_at, run_id)
                    SELECT ?, p._key, {self.person_sql}, now()::TIMESTAMP, now()::TIMESTAMP, ? FROM {pending} p
                    WHERE {acked_where} AND p._op = 'add'""",
                [name, run_id],
            )
            return
        idents_too = self.dest.records_sent_identifiers
        cols = ", ".join(f"p.c{i}" for i in range(len(self.fields)))
        ops = "'add', 'change'" if idents_too else "'add'"
        rows = con.execute(
            f"SELECT p._key, {self.person_sql}, p._op, {cols} FROM {pending} p WHERE {acked_where} AND p._op IN ({ops})"
        ).fetchall()
        changed = [r[0] for r in rows if r[2] == "change"]
        old = sent_identifiers(con, q, name, changed) if changed else {}
        out: list[list[Any]] = [[], [], [], []]  # key, person, subject, identifiers
        for key, person, op, *values in rows:
            idents = None
            if idents_too:
                sets = self.dest.sent_identifiers(
                    Record(key, "upsert", dict(zip(self.fields, values, strict=True)), "")
                )
                new = [x for x in sets if x not in old.get(key, [])]
                if op == "change" and not new:
                    continue
                idents = json.dumps(new, sort_keys=True)
            for col, v in zip(out, (key, person, key_subject(key), idents), strict=True):
                col.append(v)
        if not out[0]:
            return
        temp_text_table(
            con, "_outflow_sent", dict(zip(("key", "person_id", "subject", "identifiers"), out, strict=True))
        )
        con.execute(
            f"""INSERT INTO {q}.sync_sent
                (sync_name, key, person_id, subject, identifiers, first_sent_at, last_sent_at, run_id)
                SELECT ?, key, person_id, subject, identifiers, now()::TIMESTAMP, now()::TIMESTAMP, ?
                FROM _outflow_sent""",
            [name, run_id],
        )

    def lookup(self, con: Any, keys: list[str]) -> dict[str, list[Any]]:
        if not keys or not self.dest.records_sent_identifiers:
            return {}
        return sent_identifiers(con, self.q, self.cfg.name, keys)


def sent_identifiers(con: Any, q: str, sync_name: str, keys: list[str]) -> dict[str, list[Any]]:
    """``{key: [identifier set, ...]}``: every set recorded in ``sync_sent`` for the key, first sent first
    (keys without any are absent)."""
    out: dict[str, list[Any]] = {}
    for i in range(0, len(keys), 1000):
        chunk = keys[i : i + 1000]
        marks = ", ".join("?" for _ in chunk)
        for key, idents in con.execute(
            f"SELECT key, identifiers FROM {q}.sync_sent WHERE sync_name = ? AND key IN ({marks}) "
            "AND identifiers IS NOT NULL ORDER BY first_sent_at",
            [sync_name, *chunk],
        ).fetchall():
            have = out.setdefault(key, [])
            have += [x for x in json.loads(idents) if x not in have]
    return out


# --- the erasure ledger ---------------------------------------------------------------------------------------
def _exists(con: Any, schema: str, table: str) -> bool:
    from outflow.warehouse import table_exists

    return table_exists(con, schema, table)


def record_requests(con: Any) -> int:
    """Add every erasure request not yet in the ledger, as its hashed record. Returns how many were added.

    Reads ``main.stg_privacy__erasure_requests`` (the identifiers normalized as the identity graph does)."""
    q = ensure_privacy_schema(con)
    if not _exists(con, "main", "stg_privacy__erasure_requests"):
        raise OutflowError(
            "main.stg_privacy__erasure_requests does not exist in the warehouse; run `outflow build` first"
        )
    rows = con.execute(
        f"""SELECT r.request_id, r.identifier_type, r.identifier_value, r.requested_at
            FROM main.stg_privacy__erasure_requests r
            WHERE r.identifier_value IS NOT NULL
              AND r.request_id NOT IN (SELECT request_id FROM {q}.erasure_ledger)"""
    ).fetchall()
    if rows:
        con.executemany(
            f"""INSERT INTO {q}.erasure_ledger (request_id, identifier_type, subject_hash, requested_at, recorded_at)
                VALUES (?, ?, ?, ?, now()::TIMESTAMP) ON CONFLICT (request_id) DO NOTHING""",
            [(rid, typ, subject_hash(typ, val), at) for rid, typ, val, at in rows],
        )
    return len(rows)


def unresolved_requests(con: Any) -> list[str]:
    """Request ids not in the ledger whose identifier has no normalized form yet: loaded since the last build
    (the normalization step has not read it), or rejected by it (listed in ``identity_rejected_values``). They
    stay in ``raw.erasure_requests`` and are recorded once a build normalizes them."""
    q = ensure_privacy_schema(con)
    rows = con.execute(
        f"""SELECT r.request_id FROM main.stg_privacy__erasure_requests r
            WHERE r.identifier_value IS NULL
              AND r.request_id NOT IN (SELECT request_id FROM {q}.erasure_ledger)
            ORDER BY r.request_id"""
    ).fetchall()
    return [str(r[0]) for r in rows]


# --- the erasure run ------------------------------------------------------------------------------------------
@dataclass
class ErasureResult:
    run_id: str
    status: str = "running"  # success | partial | failed
    requests_recorded: int = 0
    unresolved: list[str] = field(default_factory=list)  # requests with no normalized identifier yet
    persons: int = 0
    sent: int = 0
    acked: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    by_sync: dict[str, dict[str, int]] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class _Target:
    sync_name: str
    key: str
    person_id: str | None
    subject: str | None
    identifiers: list[Any]


def destination_from_log(con: Any, q: str, sync_name: str) -> Destination:
    """The destination a sync sent to, from what the run log recorded (not from the sync's YAML, which may
    be renamed or gone); its secret from the environment variable the record names."""
    row = con.execute(f"SELECT config_json FROM {q}.sync_destinations WHERE sync_name = ?", [sync_name]).fetchone()
    if row is None:
        raise OutflowError(f"sync {sync_name}: no destination recorded in outflow_sync.sync_destinations")
    cfg = SyncConfig.model_validate({**json.loads(row[0]), "path": f"outflow_sync.sync_destinations[{sync_name}]"})
    return DESTINATIONS[cfg.destination.type](cfg, resolve_secret(cfg))


def _erased_targets(con: Any, q: str) -> tuple[list[_Target], int]:
    """Every (sync, key) sent to a person who is erased and not yet erased there; and how many persons.

    A sent row belongs to an erased person by its person id (``main.erased_persons``, which reads the ledger
    too) or by its key's subject hash (an email key) matching the ledger or one of the person's identifiers.
    The matching runs in the warehouse; only the matched rows come to Python."""
    subjects: dict[str, str | None] = {
        r[0]: None for r in con.execute(f"SELECT subject_hash FROM {q}.erasure_ledger").fetchall()
    }
    have_persons = _exists(con, "main", "erased_persons")
    if have_persons and _exists(con, "main", "int_identity__identifiers"):  # every email and phone of theirs
        for typ, val, pid in con.execute(
            "SELECT i.identifier_type, i.identifier_value, i.person_id FROM main.int_identity__identifiers i "
            "JOIN main.erased_persons e ON e.person_id = i.person_id WHERE i.identifier_type IN ('email', 'phone')"
        ).fetchall():
            subjects[subject_hash(typ, val)] = str(pid)
    temp_text_table(con, "_outflow_erased_subjects", {"subject": list(subjects), "person_id": list(subjects.values())})
    by_person = "s.person_id IN (SELECT person_id FROM main.erased_persons)" if have_persons else "false"
    rows = con.execute(
        f"""SELECT s.sync_name, s.key, coalesce(s.person_id, x.person_id), s.subject, s.identifiers
            FROM {q}.sync_sent s LEFT JOIN _outflow_erased_subjects x ON x.subject = s.subject
            WHERE s.erased_at IS NULL AND ({by_person} OR x.subject IS NOT NULL)
            ORDER BY s.sync_name, s.key"""
    ).fetchall()
    targets: dict[tuple[str, str], _Target] = {}  # a key re-added after a removal has several rows
    for n, k, p, sub, idents in rows:
        t = targets.setdefault((n, k), _Target(n, k, p, sub, []))
        t.person_id, t.subject = t.person_id or p, t.subject or sub
        t.identifiers += [x for x in (json.loads(idents) if idents else []) if x not in t.identifiers]
    out = list(targets.values())
    return out, len({t.person_id or t.subject for t in out})


async def _erase_at(dest: Destination, targets: list[_Target]) -> list[RowResult]:
    async def erase(deliverer: Any) -> list[RowResult]:
        out: list[RowResult] = []
        size = min(dest.erasure_batch_size, dest.batch_size)
        for i in range(0, len(targets), size):
            records = [
                Record(t.key, "delete", {"person_id": t.person_id} if t.person_id else {},
                       idempotency_key(dest.cfg.name, t.key, "erase"), tuple(t.identifiers))
                for t in targets[i : i + size]
            ]  # fmt: skip
            out += await dest.erase(deliverer.call, records)
        return out

    return await _with_deliverer(dest, erase)


def run_erasure(*, con: Any = None, warehouse: Path | str | None = None, only_record: bool = False) -> ErasureResult:
    """Record new erasure requests in the ledger, then send the destination's erasure for every (sync, key)
    ever sent to an erased person and not yet erased there, whatever the sync's mode and whether its YAML
    still exists. Every erasure and its acknowledgement is logged in ``outflow_sync.erasure_log``; an
    acknowledged one marks the row erased and reduces what the run log kept of the key to a hash."""
    from outflow.warehouse import connect

    t0 = time.perf_counter()
    own = con is None
    con = connect(warehouse) if con is None else con
    res = ErasureResult(run_id=uuid.uuid4().hex)
    try:
        q = ensure_privacy_schema(con)
        con.execute(
            f"INSERT INTO {q}.erasure_runs (run_id, started_at, status) VALUES (?, now()::TIMESTAMP, 'running')",
            [res.run_id],
        )
        try:
            res.requests_recorded = record_requests(con)
            res.unresolved = unresolved_requests(con)
            if not only_record:
                _erase_all(con, q, res)
                _forget_erased_keys(con, q)
                if not res.failed:  # every erased person is erased everywhere they were sent
                    with con.transaction():
                        con.execute(f"UPDATE {q}.erasure_ledger SET processed_at = now()::TIMESTAMP "
                                    "WHERE processed_at IS NULL")  # fmt: skip
                        _redact_requests(con, q)
            res.status = "failed" if res.failed and not res.acked else "partial" if res.failed else "success"
        except OutflowError as exc:
            res.status = "failed"
            res.errors.append(str(exc))
        finally:
            res.duration_s = time.perf_counter() - t0
            con.execute(
                f"""UPDATE {q}.erasure_runs SET finished_at = now()::TIMESTAMP, status = ?, requests_recorded = ?,
                    persons = ?, sent = ?, acked = ?, failed = ?, error = ? WHERE run_id = ?""",
                [res.status, res.requests_recorded, res.persons, res.sent, res.acked, res.failed,
                 "; ".join(res.errors)[:2000] or None, res.run_id],
            )  # fmt: skip
    finally:
        if own:
            con.close()
    return res


def _redact_requests(con: Any, q: str) -> None:
    """Reduce each processed request in ``raw.erasure_requests`` to the ledger's hashed record: the erased
    person's identifier is kept nowhere raw. The ledger keeps suppressing them (``erased_persons``), and a later
    load of the same request id keeps the reduced row (the raw table only grows, the first version wins)."""
    if not _exists(con, "raw", "erasure_requests"):
        return
    con.execute(
        f"""UPDATE raw.erasure_requests SET identifier = CAST(? AS VARCHAR) || (
                SELECT l.subject_hash FROM {q}.erasure_ledger l WHERE l.request_id = raw.erasure_requests.request_id)
            WHERE identifier NOT LIKE ? AND request_id IN (
                SELECT request_id FROM {q}.erasure_ledger WHERE processed_at IS NOT NULL)""",
        [ERASED_IDENTIFIER_PREFIX, ERASED_IDENTIFIER_PREFIX + "%"],
    )


def _erase_all(con: Any, q: str, res: ErasureResult) -> None:
    targets, res.persons = _erased_targets(con, q)
    by_sync: dict[str, list[_Target]] = {}
    for t in targets:
        by_sync.setdefault(t.sync_name, []).append(t)
    for sync_name, group in sorted(by_sync.items()):
        counts = res.by_sync.setdefault(sync_name, {"sent": 0, "acked": 0, "failed": 0})
        dest_row = con.execute(
            f"SELECT destination_type, base_url FROM {q}.sync_destinations WHERE sync_name = ?", [sync_name]
        ).fetchone()
        dtype, base_url = dest_row if dest_row else (None, None)
        try:
            dest = destination_from_log(con, q, sync_name)
            results = asyncio.run(_erase_at(dest, group))
            action = dest.erasure
        except OutflowError as exc:  # no secret, no recorded destination, credentials refused, unavailable
            res.errors.append(str(exc))
            results = [RowResult(t.key, False, str(exc)) for t in group]
            action = "not sent"
        outcome = {r.key: r for r in results}
        rows = []
        for t in group:
            r = outcome.get(t.key) or RowResult(t.key, False, "no answer for this record")
            rows.append((res.run_id, t.person_id, t.subject, sync_name, dtype, base_url, key_hash(sync_name, t.key),
                         action, len(t.identifiers), "ok" if r.ok else "failed", r.message))  # fmt: skip
            counts["acked" if r.ok else "failed"] += 1
        counts["sent"] = len(group) if action != "not sent" else 0
        res.sent += counts["sent"]
        res.acked += counts["acked"]
        res.failed += counts["failed"]
        _commit_erasures(con, q, sync_name, rows, [t for t in group if outcome.get(t.key, RowResult("", False)).ok])


def _forget_erased_keys(con: Any, q: str) -> None:
    """Forget what the run log holds of erased persons' rows that were never sent, so never erased at the
    destination: their deferred and refused rows go (a later run will not send them), and their keys in the row
    log and the set-aside rows are reduced to a hash. Their rows are found by their person id in each sync's
    model (as the run log recorded the sync), or as the key where the sync is keyed by person id. The rows of
    theirs that were sent go with their erasure (``_commit_erasures``)."""
    if not _exists(con, "main", "erased_persons"):
        return
    erased = "SELECT CAST(person_id AS VARCHAR) FROM main.erased_persons"
    syncs = con.execute(f"SELECT sync_name, config_json FROM {q}.sync_destinations").fetchall()
    for sync_name, config in syncs:
        cfg = json.loads(config) if config else {}
        source, pk = str(cfg.get("source", "")).removeprefix("main."), cfg.get("primary_key")
        keys = [erased] if pk == "person_id" else []
        if source and pk and _exists(con, "main", source) and "person_id" in con.columns("main", source):
            theirs = f"FROM main.{source} WHERE CAST(person_id AS VARCHAR) IN ({erased})"
            keys.append(f"SELECT CAST({pk} AS VARCHAR) {theirs}")
        if not keys:
            continue
        mine = f"sync_name = ? AND key IN ({' UNION '.join(keys)})"
        with con.transaction():
            for table in ("sync_deferred_rows", "sync_rejected_rows"):
                con.execute(f"DELETE FROM {q}.{table} WHERE {mine}", [sync_name])
            for table in ("sync_row_log", "sync_invalid_rows"):
                found = con.execute(f"SELECT DISTINCT key FROM {q}.{table} WHERE {mine}", [sync_name]).fetchall()
                con.executemany(
                    f"UPDATE {q}.{table} SET key = ? WHERE sync_name = ? AND key = ?",
                    [(erased_key(sync_name, k), sync_name, k) for (k,) in found],
                )


def _commit_erasures(con: Any, q: str, sync_name: str, rows: list[tuple[Any, ...]], done: list[_Target]) -> None:
    """Log every erasure; for acknowledged ones mark the row erased, drop it from the sync's state (the
    destination no longer holds it) and reduce the keys the run log kept to their hash."""
    legacy = _exists(con, SCHEMA, LEGACY)  # a state set aside for rehashing (activations.state)
    with con.transaction():
        con.executemany(
            f"""INSERT INTO {q}.erasure_log (run_id, person_id, subject, sync_name, destination_type, base_url,
                key_hash, action, identifiers_sent, status, message, logged_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)""",
            rows,
        )
        for t in done:
            hashed = erased_key(sync_name, t.key)
            con.execute(
                f"UPDATE {q}.sync_sent SET erased_at = now()::TIMESTAMP, key = ?, identifiers = NULL "
                "WHERE sync_name = ? AND key = ?",
                [hashed, sync_name, t.key],
            )
            con.execute(f"DELETE FROM {q}.sync_state WHERE sync_name = ? AND key = ?", [sync_name, t.key])
            if legacy:
                con.execute(f"DELETE FROM {q}.{LEGACY} WHERE sync_name = ? AND key = ?", [sync_name, t.key])
            for table in ("sync_rejected_rows", "sync_deferred_rows"):
                con.execute(f"DELETE FROM {q}.{table} WHERE sync_name = ? AND key = ?", [sync_name, t.key])
            con.execute(
                f"UPDATE {q}.sync_row_log SET key = ? WHERE sync_name = ? AND key = ?", [hashed, sync_name, t.key]
            )


# --- the per-person report -----------------------------------------------------------------------------------
@dataclass
class ReportRow:
    sync_name: str
    destination_type: str | None
    base_url: str | None
    first_sent_at: Any
    last_sent_at: Any
    identifiers_sent: int
    erased_at: Any
    erasure_action: str | None
    erasure_status: str | None
    erasure_message: str | None
    erasure_logged_at: Any


@dataclass
class PersonReport:
    who: str
    person_ids: list[str]
    subjects: list[str]
    requests: list[tuple[str, Any, Any]]  # (request_id, requested_at, processed_at)
    rows: list[ReportRow]

    @property
    def known(self) -> bool:
        return bool(self.person_ids or self.requests or self.rows)


def _identifiers_for(who: str) -> list[tuple[str, str]]:
    """(type, normalized value) of an email or phone given on the command line."""
    email = canonical_email(who)
    if email:
        return [("email", email)]
    if not re.fullmatch(r"[0-9+().\-\s]{6,}", who.strip()):
        return []
    import phonenumbers

    try:
        num = phonenumbers.parse(who, None if who.strip().startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return []
    return [("phone", phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))]


def person_report(who: str, *, con: Any = None, warehouse: Path | str | None = None) -> PersonReport:
    """Every destination a person (person id, email or phone) was sent to, when, and the erasure's answer."""
    own = con is None
    if own:
        con, q = _privacy_for_reading(warehouse)
    else:
        q = ensure_privacy_schema(con)
    try:
        idents = _identifiers_for(who)
        subjects = [subject_hash(t, v) for t, v in idents]
        (known,) = con.execute(
            f"SELECT count(*) FROM (SELECT person_id FROM {q}.sync_sent WHERE person_id = ? "
            f"UNION ALL SELECT person_id FROM {q}.erasure_log WHERE person_id = ?) x",
            [who, who],
        ).fetchone()
        persons = {who} if known else set()
        if idents and _exists(con, "main", "int_identity__identifiers"):
            for t, v in idents:
                persons |= {str(r[0]) for r in con.execute(
                    "SELECT person_id FROM main.int_identity__identifiers WHERE identifier_type = ? "
                    "AND identifier_value = ? AND person_id IS NOT NULL", [t, v]).fetchall()}  # fmt: skip
        marks_s = ", ".join("?" for _ in subjects) or "NULL"
        for (pid,) in con.execute(
            f"SELECT DISTINCT person_id FROM {q}.erasure_log WHERE subject IN ({marks_s}) AND person_id IS NOT NULL",
            subjects,
        ).fetchall():
            persons.add(str(pid))
        marks_p = ", ".join("?" for _ in persons) or "NULL"
        requests = con.execute(
            f"SELECT request_id, requested_at, processed_at FROM {q}.erasure_ledger WHERE subject_hash IN ({marks_s}) "
            "ORDER BY requested_at",
            subjects,
        ).fetchall()
        sent = con.execute(
            f"""SELECT s.sync_name, d.destination_type, d.base_url, s.first_sent_at, s.last_sent_at,
                       s.identifiers, s.erased_at, s.key
                FROM {q}.sync_sent s LEFT JOIN {q}.sync_destinations d ON d.sync_name = s.sync_name
                WHERE s.person_id IN ({marks_p}) OR s.subject IN ({marks_s})
                ORDER BY s.sync_name, s.first_sent_at""",
            [*persons, *subjects],
        ).fetchall()
        logs = con.execute(
            f"""SELECT sync_name, key_hash, action, status, message, logged_at FROM {q}.erasure_log
                WHERE person_id IN ({marks_p}) OR subject IN ({marks_s}) ORDER BY logged_at""",
            [*persons, *subjects],
        ).fetchall()
        last: dict[tuple[str, str], tuple[Any, ...]] = {(r[0], r[1]): r for r in logs}
        by_key: dict[tuple[str, str], ReportRow] = {}  # a key re-added after a removal has several rows
        for sync_name, dtype, url, first, last_at, idents, erased_at, key in sent:
            kh = key.removeprefix("erased:") if key.startswith("erased:") else key_hash(sync_name, key)
            lg = last.get((sync_name, kh)) or (None,) * 6
            n = len(json.loads(idents)) if idents else 0
            row = by_key.get((sync_name, kh))
            if row is None:
                by_key[(sync_name, kh)] = ReportRow(sync_name, dtype, url, first, last_at, n, erased_at, *lg[2:])
            else:
                row.last_sent_at, row.identifiers_sent = last_at, row.identifiers_sent + n
        rows = list(by_key.values())
        return PersonReport(who, sorted(persons), subjects, requests, rows)
    finally:
        if own:
            con.close()


# --- reconciliation -------------------------------------------------------------------------------------------
@dataclass
class ReconcileResult:
    sync_name: str
    held: int = 0
    in_state: int = 0
    in_model: int = 0
    removed: int = 0
    remove_failed: int = 0
    state_cleared: int = 0
    removed_keys: list[str] = field(default_factory=list)
    cleared_keys: list[str] = field(default_factory=list)
    dry_run: bool = False


def reconcile(
    cfg: SyncConfig, *, con: Any = None, warehouse: Path | str | None = None, dry_run: bool = False
) -> ReconcileResult:
    """Compare what the destination holds (where its API lists members) with the sync's state and model:
    members it holds that the model does not → removed from the destination (by the identifiers that were
    sent); state rows it does not hold → cleared, so the next run sends them again."""
    from outflow.warehouse import connect

    dest = DESTINATIONS[cfg.destination.type](cfg, resolve_secret(cfg))
    if not dest.can_list_members:
        raise OutflowError(
            f"{cfg.path or cfg.name}: destination.type: {cfg.destination.type} cannot list what it holds; "
            "reconciliation applies to destinations whose API lists members"
        )
    own = con is None
    con = connect(warehouse) if con is None else con
    res = ReconcileResult(cfg.name, dry_run=dry_run)
    try:
        q = ensure_privacy_schema(con)
        if not _exists(con, "main", cfg.source):
            raise OutflowError(f"{cfg.path or cfg.name}: source: model main.{cfg.source} does not exist")
        pk = '"' + cfg.primary_key.replace('"', '""') + '"'
        model = {str(r[0]) for r in con.execute(f'SELECT CAST({pk} AS VARCHAR) FROM main."{cfg.source}"').fetchall()}
        state = {
            r[0] for r in con.execute(f"SELECT key FROM {q}.sync_state WHERE sync_name = ?", [cfg.name]).fetchall()
        }
        held = asyncio.run(_list(dest))
        res.held, res.in_state, res.in_model = len(held), len(state), len(model)
        norm = dest.member_key
        model_n = {norm(k) for k in model}
        extra = sorted(k for k in held if norm(k) not in model_n)
        held_n = {norm(k) for k in held}
        missing = sorted(k for k in state if norm(k) not in held_n)
        res.removed_keys, res.cleared_keys = extra, missing
        if dry_run:
            return res
        if extra:
            sent = sent_identifiers(con, q, cfg.name, extra)
            results = asyncio.run(_remove(dest, [
                Record(k, "delete", {}, idempotency_key(cfg.name, k, "delete"), tuple(sent.get(k, ()))) for k in extra
            ]))  # fmt: skip
            ok = [r.key for r in results if r.ok]
            res.removed, res.remove_failed = len(ok), len(results) - len(ok)
            _drop_state(con, q, cfg.name, ok)
        if missing:
            _drop_state(con, q, cfg.name, missing)
            res.state_cleared = len(missing)
        return res
    finally:
        if own:
            con.close()


def _drop_state(con: Any, q: str, sync_name: str, keys: Iterable[str]) -> None:
    keys = list(keys)
    with con.transaction():
        con.executemany(f"DELETE FROM {q}.sync_state WHERE sync_name = ? AND key = ?", [(sync_name, k) for k in keys])


async def _with_deliverer(dest: Destination, fn: Callable[[Any], Any]) -> Any:
    from activations.delivery import Deliverer, shared_limiter

    d = dest.cfg.destination
    async with httpx.AsyncClient(timeout=d.timeout_seconds) as client:
        deliverer = Deliverer(dest, client, shared_limiter(d.base_url, d.rate_limit), max_retries=d.max_retries,
                              max_backoff=d.max_backoff_seconds, retry_budget=d.retry_budget_seconds)  # fmt: skip
        return await fn(deliverer)


async def _list(dest: Destination) -> set[str]:
    return await _with_deliverer(dest, lambda dl: dest.list_members(dl.call))


async def _remove(dest: Destination, records: list[Record]) -> list[RowResult]:
    return await _with_deliverer(dest, lambda dl: dl.deliver(records))
