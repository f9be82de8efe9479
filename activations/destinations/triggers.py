"""Trigger destinations: Braze ``/users/track`` events and the Customer.io Track API v2 batch.

Both take ``mode: insert`` from a ``trg_*`` model: each key fires once (the engine never resends an
acknowledged key); a batch resent after a timeout carries the same per-event idempotency value. Removal
(``mode: mirror``) does not apply: an event that fired cannot be unsent, so such a sync is refused.

Braze (``braze``): ``POST {base_url}/users/track`` ``{"events": [{"external_id", "name", "time",
"properties"}]}``, at most 75 objects (attributes, events and purchases together) per request,
``Authorization: Bearer <REST API key>``, rate 3,000 requests / 3 s per workspace. ``201`` with ``errors:
[{"type", "input_array": "events", "index"}]`` names the refused events (the rest are recorded). Braze has no
server-side de-duplication for events: each event carries ``properties.outflow_event_id`` (the idempotency
key) so a resend after a lost answer can be recognised downstream.

Customer.io (``customerio``): ``POST {base_url}/api/v2/batch`` ``{"batch": [{"type": "person",
"identifiers": {"id" | "email"}, "action": "event", "name", "id": <ULID>, "timestamp", "attributes"}]}``,
Basic auth ``site_id:api_key`` (the secret is ``site_id:api_key``), 500 KB per batch and 32 KB per item; the
fair-use rate is 100 requests/s. The event ``id`` is a ULID derived from the idempotency key, which
Customer.io uses to de-duplicate. ``207`` with ``errors:
[{"batch_index", "reason", "message"}]`` names refused items.

Fields: ``external_id`` (Braze) / ``id`` or ``email`` (Customer.io) for the person, ``name`` for the event
name (or ``options.event_name``), ``time`` (ISO timestamp, default now) and ``properties.<x>`` for event
properties.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from activations.destinations.base import (
    Call,
    Destination,
    PreparedRequest,
    Record,
    RowResult,
    Unconfirmed,
    answer_of,
    nest,
    require_dict,
)
from outflow.errors import OutflowError

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_from_key(key: str) -> str:
    """A stable ULID (26 Crockford base32 characters) from a hex idempotency key."""
    n = int((key + "0" * 32)[:32], 16)  # 128 bits
    n &= (1 << 128) - 1
    n >>= 1  # top bit clear: the timestamp part stays within the ULID range
    return "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _TriggerDestination(Destination):
    person_fields: tuple[str, ...] = ()
    erasure = "delete user"
    records_sent_identifiers = True

    def sent_identifiers(self, record: Record) -> list[Any]:
        """The person the event was for, as the vendor knows them (e.g. ``{"external_id": ...}``)."""
        who = {k: str(v) for k, v in record.fields.items() if k in self.person_fields and v is not None}
        return [who] if who else []

    def people(self, records: list[Record], field: str) -> dict[str, list[str]]:
        """person identifier (``field``) -> the keys of the records sent for them."""
        out: dict[str, list[str]] = {}
        for r in records:
            for s in r.sent:
                if s.get(field):
                    out.setdefault(str(s[field]), []).append(r.key)
        return out

    def _unreachable(self, records: list[Record], field: str, people: dict[str, list[str]]) -> list[RowResult]:
        reached = {k for keys in people.values() for k in keys}
        msg = f"no {field} was recorded for this event: the person cannot be addressed"
        return [RowResult(r.key, False, msg) for r in records if r.key not in reached]

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        mode = self.cfg.mode.value
        if mode == "mirror":
            raise OutflowError(
                f"{where}: mode: removal (mirror) does not apply to {self.type} trigger events: an event that "
                "fired cannot be unsent; use mode: insert on a trg_* model"
            )
        if mode != "insert":
            raise OutflowError(f"{where}: mode: {self.type} sends trigger events; use mode: insert on a trg_* model")
        values = set(self.cfg.fields.values())
        if not values & set(self.person_fields):
            raise OutflowError(
                f"{where}: fields: map a column to {' or '.join(self.person_fields)} (the person the event is for)"
            )
        self.event_name = self.option("event_name")
        if "name" not in values and not self.event_name:
            raise OutflowError(f"{where}: fields: map a column to name, or set destination.options.event_name")
        for src, f in self.cfg.fields.items():
            if f not in (*self.person_fields, "name", "time") and not f.startswith("properties."):
                raise OutflowError(
                    f"{where}: fields.{src}: {f!r} must be one of "
                    f"{', '.join(self.person_fields)}, name, time, "
                    "properties.<name>"
                )

    def _event(self, r: Record) -> dict[str, Any]:
        f = {k: v for k, v in r.fields.items() if v is not None}
        props = nest({k: v for k, v in f.items() if k.startswith("properties.")}).get("properties", {})
        return {
            "name": str(f.get("name") or self.event_name),
            "time": str(f["time"]) if "time" in f else _now(),
            "properties": props,
            "who": {k: str(f[k]) for k in self.person_fields if k in f},
        }


class BrazeDestination(_TriggerDestination):
    type = "braze"
    max_batch_size = 75
    person_fields = ("external_id",)

    def build_request(self, records: list[Record]) -> PreparedRequest:
        events = []
        for r in records:
            e = self._event(r)
            props = {**e["properties"], "outflow_event_id": r.idempotency_key}
            events.append({**e["who"], "name": e["name"], "time": e["time"], "properties": props})
        headers = {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}
        url = f"{self.cfg.destination.base_url}/users/track"
        return PreparedRequest("POST", url, headers, orjson.dumps({"events": events}, default=str))

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """Braze answers ``{"message": "success", "events_processed": n, "errors": [...]}``: the events are
        confirmed only when the message is success and the processed count equals the events not refused."""
        failed: dict[int, str] = {}
        body = require_dict(answer_of(response), "message")
        for e in body.get("errors", []) or []:
            if e.get("input_array") == "events" and isinstance(e.get("index"), int):
                failed[e["index"]] = str(e.get("type"))
        processed = body.get("events_processed")
        if body["message"] != "success" or processed != len(records) - len(failed):
            raise Unconfirmed(f"message {str(body['message'])[:80]!r}, events_processed {processed!r}")
        return [RowResult(r.key, i not in failed, failed.get(i)) for i, r in enumerate(records)]

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        if response.status_code != 400:
            return {}
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            return {}
        out = {e["index"]: str(e.get("type")) for e in errors if isinstance(e.get("index"), int) and e["index"] < n}
        return out if len(out) == len(errors) else {}

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """``POST /users/delete`` ``{"external_ids": [...]}`` (at most 50), 201: the users and their data are
        deleted; every event sent for one of them is acknowledged with it."""
        people = self.people(records, "external_id")
        out = self._unreachable(records, "external_id", people)
        ids = sorted(people)
        headers = {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}
        for i in range(0, len(ids), 50):
            chunk = ids[i : i + 50]
            req = PreparedRequest("POST", f"{self.cfg.destination.base_url}/users/delete", headers,
                                  orjson.dumps({"external_ids": chunk}))  # fmt: skip
            resp = await call(req)
            ok = resp.status_code in (200, 201)
            msg = None if ok else self.error_message(resp)
            out += [RowResult(k, ok, msg) for p in chunk for k in people[p]]
        return out


class CustomerIoDestination(_TriggerDestination):
    type = "customerio"
    max_batch_size = 500  # also kept under 500 KB by the body-size check below
    person_fields = ("id", "email")

    def check_secret(self) -> None:
        if ":" not in self._secret:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.secret_env: the value of "
                f"{self.cfg.destination.secret_env} must be site_id:api_key"
            )

    def _headers(self) -> dict[str, str]:
        auth = base64.b64encode(self._secret.encode()).decode()
        return {"authorization": f"Basic {auth}", "content-type": "application/json"}

    def check_request(self) -> PreparedRequest:
        """Track API ``GET /api/v1/accounts/region``: the region and workspace of these credentials (401 when
        they are wrong)."""
        return PreparedRequest("GET", f"{self.cfg.destination.base_url}/api/v1/accounts/region", self._headers())

    def build_request(self, records: list[Record]) -> PreparedRequest:
        batch = []
        for r in records:
            e = self._event(r)
            ts = int(dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp())
            batch.append({"type": "person", "identifiers": e["who"], "action": "event", "name": e["name"],
                          "id": ulid_from_key(r.idempotency_key), "timestamp": ts,
                          "attributes": e["properties"]})  # fmt: skip
        body = orjson.dumps({"batch": batch}, default=str)
        if len(body) > 500 * 1024 and len(records) > 1:
            raise OutflowError(f"sync {self.cfg.name}: a Customer.io batch is over 500 KB; lower batch_size")
        return PreparedRequest("POST", f"{self.cfg.destination.base_url}/api/v2/batch", self._headers(), body)

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """Customer.io answers 200 with an empty object when the whole batch is accepted, 207 with ``errors``
        naming refused items; anything else confirms nothing."""
        failed: dict[int, str] = {}
        body = answer_of(response) if response.content else {}
        if not isinstance(body, dict) or (response.status_code == 207 and "errors" not in body):
            raise Unconfirmed("answer is not the batch result")
        if set(body) - {"errors"}:
            raise Unconfirmed(f"unexpected answer {str(body)[:120]}")
        for e in body.get("errors", []) or []:
            if isinstance(e.get("batch_index"), int):
                failed[e["batch_index"]] = f"{e.get('reason', 'invalid')}: {e.get('message', '')}"
        return [RowResult(r.key, i not in failed, failed.get(i)) for i, r in enumerate(records)]

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Track API ``DELETE /api/v1/customers/{identifier}`` per person (200): the person and their data are
        deleted; every event sent for them is acknowledged with it."""
        field = "id" if any(s.get("id") for r in records for s in r.sent) else "email"
        people = self.people(records, field)
        out = self._unreachable(records, field, people)
        auth = base64.b64encode(self._secret.encode()).decode()
        for pid, keys in sorted(people.items()):
            url = f"{self.cfg.destination.base_url}/api/v1/customers/{quote(pid, safe='')}"
            resp = await call(PreparedRequest("DELETE", url, {"authorization": f"Basic {auth}"}))
            ok = resp.status_code in (200, 204, 404)
            out += [RowResult(k, ok, None if ok else self.error_message(resp)) for k in keys]
        return out
