"""HubSpot CRM contacts and list membership, on HubSpot's date-versioned API (``options.api_version``, default
in ``activations.destinations.versions``; ``v3`` keeps the legacy ``/crm/v3/...`` paths until HubSpot stops them).

- Upsert: ``POST /crm/objects/{version}/contacts/batch/upsert`` ``{"inputs": [{"idProperty", "id",
  "properties"}]}``, at most 100 inputs; ``idProperty`` is ``email`` or a custom unique property (option
  ``id_property``). ``200`` when all succeed, ``207`` multi-status otherwise. Only the documented shape counts:
  a row is delivered when an item of ``results`` carries its id property; HubSpot documents no per-input
  reference in ``errors[{status, category, message, context}]`` for upsert, so every row ``results`` does not
  name is rejected with those messages (sent again next run), never recorded as delivered.
- Audience membership (option ``list_id``, a MANUAL list): after an upsert, ``PUT
  /crm/lists/{version}/{list_id}/memberships/add`` with the record ids (rows whose record id the answer lists
  in ``recordIdsMissing`` are refused; an answer without it confirms none); removal (mirror) reads the record
  ids with ``POST /crm/objects/{version}/contacts/batch/read`` (``idProperty``) and ``PUT .../memberships/remove``.
- Reconciliation lists the list's members: ``GET /crm/lists/{version}/{list_id}/memberships?limit=250`` (record
  ids, following ``paging.next.after`` to the end), then their id property with ``POST
  /crm/objects/{version}/contacts/batch/read`` by record id (100 per call).
- A 404 (a missing list, an unknown or retired version) is about the request: the sync stops after it.
- Throttling: HubSpot sends ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` and no Retry-After;
  a 429 waits one request's share of the window (the ``DAILY`` policy: a day, so the retry budget stops the
  run), and with under a tenth of the window left the client paces itself before HubSpot refuses.
- Auth: ``Authorization: Bearer <private app token>``; rate limit 100 requests / 10 s (private apps).

The primary key column must be mapped to the id property. Property values are sent as strings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import orjson

from activations.destinations.base import (
    UNCONFIRMED_ROW,
    Call,
    Destination,
    PreparedRequest,
    Record,
    RefusalScope,
    RowResult,
    Unconfirmed,
    answer_of,
    require_dict,
)
from outflow.errors import OutflowError


class HubSpotDestination(Destination):
    erasure = "delete contact"
    type = "hubspot"
    max_batch_size = 100
    deletes_apart = True
    can_list_members = True

    def check_config(self) -> None:
        self.id_property = str(self.option("id_property", "email"))
        self.require_key_mapped_to(self.id_property)
        lid = self.option("list_id")
        self.list_id = None if lid is None else str(lid)
        if self.cfg.mode.value == "mirror" and self.list_id is None:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.options.list_id: mirror mode keeps a HubSpot "
                "list in step with the audience; name the (manual) list"
            )
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{self.cfg.path or self.cfg.name}: mode: HubSpot contacts take upsert or mirror")

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._secret}", "content-type": "application/json"}

    def check_request(self) -> PreparedRequest:
        """``GET .../objects/contacts?limit=1``: one contact page, in the sync's API version."""
        return PreparedRequest("GET", self._objects("").rstrip("/") + "?limit=1", self._headers())

    def _objects(self, tail: str) -> str:
        """The contacts endpoint ``tail`` in the sync's API version: date-versioned (``/crm/objects/2026-09/
        contacts/...``) or the legacy ``/crm/v3/objects/contacts/...``."""
        v = self.api_version
        path = f"/crm/{v}/objects/contacts" if v.startswith("v") else f"/crm/objects/{v}/contacts"
        return f"{self.cfg.destination.base_url}{path}/{tail}"

    def _lists(self, tail: str) -> str:
        v, lid = self.api_version, quote(str(self.list_id), safe="")
        path = f"/crm/{v}/lists/{lid}" if v.startswith("v") else f"/crm/lists/{v}/{lid}"
        return f"{self.cfg.destination.base_url}{path}/{tail}"

    @property
    def api_version(self) -> str:
        return super().api_version or ""

    def _id(self, key: str) -> str:
        return key.strip().lower() if self.id_property == "email" else key

    def build_request(self, records: list[Record]) -> PreparedRequest:
        inputs = []
        for r in records:
            props: dict[str, Any] = {k: ("" if v is None else str(v)) for k, v in r.fields.items()}
            if self.id_property == "email":
                props["email"] = self._id(r.key)
            inputs.append({"idProperty": self.id_property, "id": self._id(r.key), "properties": props})
        url = self._objects("batch/upsert")
        return PreparedRequest("POST", url, self._headers(), orjson.dumps({"inputs": inputs}))

    @staticmethod
    def _errors(body: dict[str, Any]) -> str | None:
        """The documented ``errors[]`` (``category``, ``message``) of a 207, as one message; None if absent."""
        errs = body.get("errors")
        if not isinstance(errs, list) or not errs:
            return None
        msgs = [f"{e.get('category', 'ERROR')}: {e.get('message', '')}" for e in errs if isinstance(e, dict)]
        return "; ".join(msgs)[:500] if msgs else None

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """Only the documented shape counts: a row is confirmed by an item of ``results`` carrying its id
        property. HubSpot documents no per-input reference in a 207's ``errors`` for upsert, so every other
        row is rejected (with the answer's ``errors`` as its message, or as unconfirmed), never delivered;
        an answer without ``results`` rejects every row."""
        body = require_dict(answer_of(response), "results")
        if not isinstance(body["results"], list):
            raise Unconfirmed("results is not a list")
        done = set()
        for item in body["results"]:
            props = item.get("properties") if isinstance(item, dict) else None
            if isinstance(props, dict) and props.get(self.id_property) not in (None, ""):
                value = str(props[self.id_property]).strip()
                done.add(value.lower() if self.id_property == "email" else value)
        errors = self._errors(body)
        why = f"refused by HubSpot ({errors}); sent again next run" if errors else UNCONFIRMED_ROW
        return [RowResult(r.key, True) if self._id(r.key) in done else RowResult(r.key, False, why) for r in records]

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        resp = await call(self.build_request(records))
        if resp.status_code not in (200, 201, 207) or self.list_id is None:
            return resp
        results = self.parse_response(resp, records)
        ok = {self._id(r.key) for r in results if r.ok}
        record_of: dict[str, str] = {}  # HubSpot record id -> id property value
        for item in resp.json()["results"]:
            value = str(item["properties"].get(self.id_property, "")).strip()
            value = value.lower() if self.id_property == "email" else value
            if value in ok:
                record_of[str(item["id"])] = value
        if not record_of:
            return results
        add = await call(self._membership("add", list(record_of)))
        if not 200 <= add.status_code < 300:
            return add
        # the documented answer names the records it could not add (``recordIdsMissing``): those rows are
        # refused; an answer without that list confirms none of them
        try:
            missing = require_dict(answer_of(add), "recordIdsMissing")["recordIdsMissing"]
            missing = {record_of.get(str(i)) for i in missing}
            why = "not added to the HubSpot list: HubSpot reports the record missing (recordIdsMissing)"
        except Unconfirmed as exc:
            missing, why = set(record_of.values()), f"unconfirmed: list membership answer {exc}; sent again next run"
        return [RowResult(r.key, False, why) if r.ok and self._id(r.key) in missing else r for r in results]

    def _membership(self, action: str, ids: list[str]) -> PreparedRequest:
        return PreparedRequest("PUT", self._lists(f"memberships/{action}"), self._headers(), orjson.dumps(ids))

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        body = {
            "idProperty": self.id_property,
            "properties": [self.id_property],
            "propertiesWithHistory": [],
            "inputs": [{"id": self._id(r.key)} for r in records],
        }
        url = self._objects("batch/read")
        resp = await call(PreparedRequest("POST", url, self._headers(), orjson.dumps(body)))
        if resp.status_code not in (200, 207):
            return resp
        ids = [str(item["id"]) for item in resp.json().get("results", [])]
        if ids:  # contacts HubSpot does not know are not on the list: nothing to remove
            rm = await call(self._membership("remove", ids))
            if not 200 <= rm.status_code < 300:
                return rm
        return [RowResult(r.key, True) for r in records]

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        """A 404 is about the request (a missing list, an unknown or retired API version): HubSpot's batch
        endpoints never answer 404 for one input."""
        return "request" if response.status_code == 404 else super().refusal_scope(response)

    @staticmethod
    def _limits(response: httpx.Response) -> tuple[float, float, float] | None:
        """(remaining, max, window seconds) from ``X-HubSpot-RateLimit-Remaining/-Max/-Interval-Milliseconds``."""
        h = response.headers
        try:
            return (float(h["x-hubspot-ratelimit-remaining"]), float(h["x-hubspot-ratelimit-max"]),
                    float(h["x-hubspot-ratelimit-interval-milliseconds"]) / 1000)  # fmt: skip
        except (KeyError, ValueError):
            return None

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """HubSpot names no Retry-After: a 429 under the daily policy waits a day (the run's retry budget stops
        it cleanly); under the rolling window, one request's share of the window."""
        try:
            policy = response.json().get("policyName")
        except (ValueError, AttributeError):
            policy = None
        if policy == "DAILY":
            return 86_400.0
        limits = self._limits(response)
        return limits[2] / limits[1] if limits and limits[1] > 0 else None

    def quota_delay(self, response: httpx.Response) -> float | None:
        """With less than a tenth of the window's allowance left, pace at one request per share of the window."""
        limits = self._limits(response)
        if limits is None or limits[1] <= 0 or limits[0] >= limits[1] / 10:
            return None
        return limits[2] / limits[1]

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and "message" in body:
            return f"HTTP {response.status_code}: {body.get('category', '')} {body['message']}".replace("  ", " ")
        return super().error_message(response)

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """GDPR delete (``POST /crm/v3/objects/contacts/gdpr-delete`` ``{"objectId", "idProperty"}``, 204), one
        contact per call; HubSpot deletes the record for good and blocklists an email it does not hold."""
        out = []
        url = self._objects("gdpr-delete")
        for r in records:
            body = {"objectId": r.key.strip().lower() if self.id_property == "email" else r.key,
                    "idProperty": self.id_property}  # fmt: skip
            resp = await call(PreparedRequest("POST", url, self._headers(), orjson.dumps(body)))
            ok = resp.status_code in (200, 204)
            out.append(RowResult(r.key, ok, None if ok else self.error_message(resp)))
        return out

    async def list_members(self, call: Call) -> set[str]:
        """The list's members by id property: their record ids (``GET .../memberships``, 250 a page, cursor
        ``paging.next.after``), then the id property of those records (batch read by record id, 100 a call).
        A member without the id property cannot be this sync's and is left out."""
        if self.list_id is None:
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: destination.options.list_id: reconciliation reads the members "
                "of the sync's HubSpot list; name the list"
            )
        base = self._lists("memberships?limit=250")
        ids: list[str] = []
        after: str | None = None
        while True:
            url = base if after is None else f"{base}&after={quote(after, safe='')}"
            body = self._listed(await call(PreparedRequest("GET", url, self._headers())), "list memberships")
            ids += [str(m["recordId"]) for m in body.get("results") or [] if isinstance(m, dict) and m.get("recordId")]
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        out: set[str] = set()
        url = self._objects("batch/read")
        for i in range(0, len(ids), 100):
            read = {"properties": [self.id_property], "propertiesWithHistory": [],
                    "inputs": [{"id": rid} for rid in ids[i : i + 100]]}  # fmt: skip
            resp = await call(PreparedRequest("POST", url, self._headers(), orjson.dumps(read)))
            for item in self._listed(resp, "contacts batch read").get("results") or []:
                value = ((item or {}).get("properties") or {}).get(self.id_property)
                if value not in (None, ""):
                    out.add(str(value))
        return out

    def _listed(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON body of a listing answer (200, or 207 with some records not found), else one clear error."""
        try:
            body = resp.json() if resp.status_code in (200, 207) else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OutflowError(f"sync {self.cfg.name}: listing HubSpot {what} failed: {self.error_message(resp)}")
        return body
