"""Mailchimp Marketing: batch subscribe/update list members, archive for removals.

- Upsert: ``POST {base_url}/lists/{list_id}`` ``{"members": [{"email_address", "status_if_new",
  "merge_fields"}], "update_existing": true}``, at most 500 members; the answer lists ``new_members``,
  ``updated_members`` and
  ``errors: [{"email_address", "error", "error_code"}]`` for refused members (the rest are applied).
- Removal (mirror): ``DELETE {base_url}/lists/{list_id}/members/{subscriber_hash}`` archives the member
  (``subscriber_hash`` = MD5 of the lower-cased email); 404 counts as already gone.
- Auth: HTTP Basic ``anystring:<API key>``; ``base_url`` is ``https://<dc>.api.mailchimp.com/3.0``.
  Options: ``list_id`` (required), ``status_if_new`` (default ``subscribed``).

Fields: ``email_address`` (the primary key column maps to it), ``merge_fields.<TAG>``, ``language``, ``vip``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

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
    answer_of,
    nest,
    require_dict,
)
from outflow.errors import OutflowError

STATUSES = ("subscribed", "pending", "unsubscribed", "cleaned", "transactional")


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


class MailchimpDestination(Destination):
    type = "mailchimp"
    max_batch_size = 500
    deletes_apart = True
    erasure = "delete contact"
    can_list_members = True

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        self.require_key_mapped_to("email_address")
        self.list_id = str(self.option("list_id", required=True))
        self.status_if_new = str(self.option("status_if_new", "subscribed"))
        if self.status_if_new not in STATUSES:
            raise OutflowError(f"{where}: destination.options.status_if_new: must be one of {', '.join(STATUSES)}")
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{where}: mode: Mailchimp list members take upsert or mirror")

    def _headers(self) -> dict[str, str]:
        auth = base64.b64encode(f"outflow:{self._secret}".encode()).decode()
        return {"authorization": f"Basic {auth}", "content-type": "application/json"}

    def check_request(self) -> PreparedRequest:
        """``GET /ping``: Mailchimp's health check, which needs a valid API key."""
        return PreparedRequest("GET", f"{self.cfg.destination.base_url}/ping", self._headers())

    def _member(self, r: Record) -> dict[str, Any]:
        m: dict[str, Any] = nest({k: v for k, v in r.fields.items() if v is not None})
        m["email_address"] = r.key.strip().lower()
        m.setdefault("status_if_new", self.status_if_new)
        if "merge_fields" in m:
            m["merge_fields"] = {
                k: (v if isinstance(v, (int, float)) else str(v)) for k, v in m["merge_fields"].items()
            }
        return m

    def build_request(self, records: list[Record]) -> PreparedRequest:
        body = {"members": [self._member(r) for r in records], "update_existing": True}
        url = f"{self.cfg.destination.base_url}/lists/{self.list_id}"
        return PreparedRequest("POST", url, self._headers(), orjson.dumps(body, default=str))

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        body = require_dict(answer_of(response), "new_members", "updated_members")
        failed = {
            str(e.get("email_address", "")).lower(): f"{e.get('error_code', 'ERROR')}: {e.get('error', '')}"
            for e in body.get("errors", []) or []
        }
        done = {
            str((m or {}).get("email_address", "")).strip().lower()
            for m in [*(body["new_members"] or []), *(body["updated_members"] or [])]
        }
        out = []
        for r in records:
            email = r.key.strip().lower()
            if email in failed:
                out.append(RowResult(r.key, False, failed[email]))
            else:
                out.append(RowResult(r.key, email in done, None if email in done else UNCONFIRMED_ROW))
        return out

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op != "delete":
            return await super().exchange(call, records)
        out = []
        for r in records:  # Mailchimp archives one member per call
            url = f"{self.cfg.destination.base_url}/lists/{self.list_id}/members/{subscriber_hash(r.key)}"
            resp = await call(PreparedRequest("DELETE", url, self._headers()))
            if resp.status_code in (200, 204, 404):
                out.append(RowResult(r.key, True))
            else:
                out.append(RowResult(r.key, False, self.error_message(resp)))
        return out

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        """Mailchimp answers 404 for a list (or endpoint) it does not have; its batch
        subscribe never answers 404 for one member."""
        return "request" if response.status_code == 404 else super().refusal_scope(response)

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and "title" in body:
            return f"HTTP {response.status_code}: {body['title']}: {body.get('detail', '')}"
        return super().error_message(response)

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Permanent deletion (``POST /lists/{list_id}/members/{hash}/actions/delete-permanent``, 204), not the
        archive a removal makes; 404 means the list holds no such member."""
        out = []
        for r in records:
            url = (f"{self.cfg.destination.base_url}/lists/{self.list_id}/members/{subscriber_hash(r.key)}"
                   "/actions/delete-permanent")  # fmt: skip
            resp = await call(PreparedRequest("POST", url, self._headers()))
            ok = resp.status_code in (200, 204, 404)
            out.append(RowResult(r.key, ok, "not a member (404)" if resp.status_code == 404 else
                                 None if ok else self.error_message(resp)))  # fmt: skip
        return out

    async def list_members(self, call: Call) -> set[str]:
        """The list's members (any status but archived), by email, 1000 per page."""
        out: set[str] = set()
        offset = 0
        while True:
            url = f"{self.cfg.destination.base_url}/lists/{self.list_id}/members?count=1000&offset={offset}"
            resp = await call(PreparedRequest("GET", url, self._headers()))
            if resp.status_code != 200:
                msg = self.error_message(resp)
                raise OutflowError(f"sync {self.cfg.name}: listing Mailchimp members failed: {msg}")
            page = resp.json().get("members") or []
            out |= {m["email_address"] for m in page if m.get("status") != "archived"}
            offset += len(page)
            if len(page) < 1000:
                return out
