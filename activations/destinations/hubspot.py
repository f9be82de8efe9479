"""HubSpot CRM contacts and list membership.

- Upsert: ``POST /crm/v3/objects/contacts/batch/upsert`` ``{"inputs": [{"idProperty", "id", "properties"}]}``,
  at most 100 inputs; ``idProperty`` is ``email`` or a custom unique property (option ``id_property``).
  ``200`` when all succeed, ``207`` multi-status with ``errors[{status, category, message, context:
  {id: [...]}}]`` naming the inputs that failed (the rest are applied).
- Audience membership (option ``list_id``, a MANUAL list): after an upsert, ``PUT
  /crm/v3/lists/{list_id}/memberships/add`` with the record ids; removal (mirror) reads the record ids with
  ``POST /crm/v3/objects/contacts/batch/read`` (``idProperty``) and ``PUT .../memberships/remove``.
- Reconciliation lists the list's members: ``GET /crm/v3/lists/{list_id}/memberships?limit=250`` (record ids,
  following ``paging.next.after`` to the end), then their id property with ``POST
  /crm/v3/objects/contacts/batch/read`` by record id (100 per call).
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
    RowResult,
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

    def _id(self, key: str) -> str:
        return key.strip().lower() if self.id_property == "email" else key

    def build_request(self, records: list[Record]) -> PreparedRequest:
        inputs = []
        for r in records:
            props: dict[str, Any] = {k: ("" if v is None else str(v)) for k, v in r.fields.items()}
            if self.id_property == "email":
                props["email"] = self._id(r.key)
            inputs.append({"idProperty": self.id_property, "id": self._id(r.key), "properties": props})
        url = f"{self.cfg.destination.base_url}/crm/v3/objects/contacts/batch/upsert"
        return PreparedRequest("POST", url, self._headers(), orjson.dumps({"inputs": inputs}))

    def _failed_ids(self, body: dict[str, Any]) -> dict[str, str]:
        failed: dict[str, str] = {}
        for e in body.get("errors", []) or []:
            ids = (e.get("context") or {}).get("id") or []
            for i in ids:
                failed[str(i)] = f"{e.get('category', 'ERROR')}: {e.get('message', '')}"
        return failed

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        """A row is confirmed by a result carrying its id property, refused by an error naming it; any other
        row (or an answer without ``results``) is unconfirmed."""
        body = require_dict(answer_of(response), "results")
        failed = self._failed_ids(body)
        done = set()
        for item in body["results"] or []:
            value = str(((item or {}).get("properties") or {}).get(self.id_property, "")).strip()
            done.add(value.lower() if self.id_property == "email" else value)
        out = []
        for r in records:
            rid = self._id(r.key)
            if rid in failed:
                out.append(RowResult(r.key, False, failed[rid]))
            else:
                out.append(RowResult(r.key, rid in done, None if rid in done else UNCONFIRMED_ROW))
        return out

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        resp = await call(self.build_request(records))
        if resp.status_code not in (200, 201, 207) or self.list_id is None:
            return resp
        results = self.parse_response(resp, records)
        ids = []
        ok = {self._id(r.key) for r in results if r.ok}
        for item in resp.json().get("results", []):
            value = str((item.get("properties") or {}).get(self.id_property, "")).strip()
            value = value.lower() if self.id_property == "email" else value
            if value in ok:
                ids.append(str(item["id"]))
        if ids:
            add = await call(self._membership("add", ids))
            if not 200 <= add.status_code < 300:
                return add
        return results

    def _membership(self, action: str, ids: list[str]) -> PreparedRequest:
        url = f"{self.cfg.destination.base_url}/crm/v3/lists/{self.list_id}/memberships/{action}"
        return PreparedRequest("PUT", url, self._headers(), orjson.dumps(ids))

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        body = {
            "idProperty": self.id_property,
            "properties": [self.id_property],
            "propertiesWithHistory": [],
            "inputs": [{"id": self._id(r.key)} for r in records],
        }
        url = f"{self.cfg.destination.base_url}/crm/v3/objects/contacts/batch/read"
        resp = await call(PreparedRequest("POST", url, self._headers(), orjson.dumps(body)))
        if resp.status_code not in (200, 207):
            return resp
        ids = [str(item["id"]) for item in resp.json().get("results", [])]
        if ids:  # contacts HubSpot does not know are not on the list: nothing to remove
            rm = await call(self._membership("remove", ids))
            if not 200 <= rm.status_code < 300:
                return rm
        return [RowResult(r.key, True) for r in records]

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
        url = f"{self.cfg.destination.base_url}/crm/v3/objects/contacts/gdpr-delete"
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
        base = f"{self.cfg.destination.base_url}/crm/v3/lists/{quote(self.list_id, safe='')}/memberships?limit=250"
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
        url = f"{self.cfg.destination.base_url}/crm/v3/objects/contacts/batch/read"
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
