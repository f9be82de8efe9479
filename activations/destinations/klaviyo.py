"""Klaviyo profiles and list membership (JSON:API, ``revision`` header on every call).

- Upsert / add to list: ``POST /api/profile-bulk-import-jobs`` — a ``profile-bulk-import-job`` with up to
  10,000 profiles (5 MB) and a ``relationships.lists`` entry for the audience list; answered ``202`` with the
  job. A ``400`` whose ``errors[].source.pointer`` names ``/data/attributes/profiles/data/<i>/...`` rejects
  those rows and the rest are sent again.
- The job is then polled, bounded and with backoff (``GET /api/profile-bulk-import-jobs/{id}``; options
  ``job_poll_timeout_seconds`` (default 120), ``job_poll_interval_seconds``, ``job_poll_max_interval_seconds``)
  until its status is ``complete`` or ``cancelled``. When it reports ``failed_count > 0`` its errors are read
  (``GET /api/profile-bulk-import-jobs/{id}/import-errors``, 100 per page, following ``links.next``) and mapped
  back to rows by ``original_payload`` email or by the ``source.pointer`` profile index: those rows are rejected
  with Klaviyo's ``title: detail``. Rows Klaviyo does not confirm are never reported delivered: a job still
  ``queued``/``processing`` at the timeout, a cancelled job, or failures the errors do not attribute reject the
  rows with a message naming the job; the engine re-sends them next run (the import is an idempotent upsert).
- Removal (mirror): ``GET /api/profiles?filter=any(email,[...])`` (≤ 100 per page) for the profile ids, then
  ``DELETE /api/lists/{list_id}/relationships/profiles`` ``{"data": [{"type": "profile", "id"}]}`` (≤ 1000).
- Auth: ``Authorization: Klaviyo-API-Key <private key>``; rate limits burst 10/s, steady 150/min.

The primary key column must be mapped to ``email``. Destination fields are profile attributes (``email``,
``phone_number``, ``external_id``, ``first_name``, ``last_name``, ``organization``, ``title``,
``location.city``, ...) or ``properties.<name>`` for custom properties.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RefusalScope, RowResult, nest
from activations.destinations.jobs import JobPolling, finished_job, json_object, reject_all, settle, submit
from activations.destinations.versions import VERSIONS
from outflow.errors import OutflowError

REVISION = VERSIONS["klaviyo"].default  # the revision of the OpenAPI documents the sandbox validates against
LOOKUP_MAX = 100
ERRORS_PAGE = 100
JOB_DONE = ("complete", "cancelled")
_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)(/|$)")


class KlaviyoDestination(Destination):
    erasure = "delete contact"
    can_list_members = True
    type = "klaviyo"
    max_batch_size = 10_000
    max_batch_bytes = 5 * 1024 * 1024

    def check_config(self) -> None:
        self.require_key_mapped_to("email")
        self.list_id = str(self.option("list_id", required=True))
        self.revision = self.api_version or REVISION
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(f"{self.cfg.path or self.cfg.name}: mode: Klaviyo profile import takes upsert or mirror")
        self.polling = JobPolling.from_options(self, timeout=120.0)

    def check_request(self) -> PreparedRequest:
        """``GET /api/accounts``: the account the private API key belongs to."""
        return PreparedRequest("GET", f"{self.cfg.destination.base_url}/api/accounts", self._headers(body=False))

    def _headers(self, body: bool = True) -> dict[str, str]:
        h = {
            "authorization": f"Klaviyo-API-Key {self._secret}",
            "revision": self.revision,
            "accept": "application/vnd.api+json",
        }
        if body:
            h["content-type"] = "application/vnd.api+json"
        return h

    def group(self, records: list[Record]) -> list[list[Record]]:
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in [ups, *(dels[i : i + LOOKUP_MAX] for i in range(0, len(dels), LOOKUP_MAX))] if g]

    def _profile(self, r: Record) -> dict[str, Any]:
        attrs = nest({k: (v if k.startswith("properties.") else str(v)) for k, v in r.fields.items() if v is not None})
        if "email" in attrs:
            attrs["email"] = attrs["email"].strip().lower()
        return {"type": "profile", "attributes": attrs}

    def build_request(self, records: list[Record]) -> PreparedRequest:
        body = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [self._profile(r) for r in records]}},
                "relationships": {"lists": {"data": [{"type": "list", "id": self.list_id}]}},
            }
        }
        url = f"{self.cfg.destination.base_url}/api/profile-bulk-import-jobs"
        return PreparedRequest("POST", url, self._headers(), orjson.dumps(body, default=str))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        return await submit(self, call, records, lambda resp: resp.json()["data"]["id"], self._await_job)

    async def _await_job(self, call: Call, job_id: str, records: list[Record]) -> list[RowResult]:
        base = self.cfg.destination.base_url
        url = f"{base}/api/profile-bulk-import-jobs/{job_id}"
        head = f"Klaviyo profile import job {job_id}"

        def attrs(r: httpx.Response) -> dict[str, Any]:
            return (json_object(r).get("data") or {}).get("attributes") or {}

        job = await finished_job(
            self, call, PreparedRequest("GET", url, self._headers(False)), records, head=head,
            polling=self.polling, attrs=attrs, done=JOB_DONE,
        )  # fmt: skip
        if isinstance(job, list):
            return job
        if job.get("status") == "cancelled":
            return reject_all(records, f"{head} was cancelled: not imported")
        failed = int(job.get("failed_count") or 0)
        if not failed:
            return [RowResult(r.key, True) for r in records]
        named = await self._import_errors(call, job_id, records)
        if named is None:
            return reject_all(records, f"{head}: {failed} profiles failed; import errors unreadable: not confirmed")
        return settle(records, head, named, failed)

    async def _import_errors(self, call: Call, job_id: str, records: list[Record]) -> dict[str, str] | None:
        """key -> Klaviyo's message for the profiles the job refused (None if the errors cannot be read)."""
        by_email = {r.key.strip().lower(): r.key for r in records}
        url: str | None = (
            f"{self.cfg.destination.base_url}/api/profile-bulk-import-jobs/{job_id}/import-errors"
            f"?page%5Bsize%5D={ERRORS_PAGE}"
        )
        out: dict[str, str] = {}
        pages = 0
        while url and pages < 1000:
            resp = await call(PreparedRequest("GET", url, self._headers(False)))
            pages += 1
            if resp.status_code != 200:
                return None
            try:
                body = resp.json()
                items = body["data"]
            except (ValueError, KeyError, TypeError):
                return None
            for item in items:
                a = (item or {}).get("attributes") or {}
                payload = a.get("original_payload") or {}
                email = payload.get("email") or (payload.get("attributes") or {}).get("email")
                key = by_email.get(str(email).strip().lower()) if email else None
                if key is None:
                    m = _POINTER.match(str((a.get("source") or {}).get("pointer", "")))
                    if m and int(m.group(1)) < len(records):
                        key = records[int(m.group(1))].key
                if key is not None:
                    out.setdefault(key, f"{a.get('title', 'error')}: {a.get('detail', '')}".strip())
            url = ((body.get("links") or {}).get("next")) or None
        return out

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        base = self.cfg.destination.base_url
        emails = [r.key.strip().lower() for r in records]
        flt = quote(f"any(email,{json.dumps(emails, separators=(',', ':'))})", safe="")
        lookup = PreparedRequest(
            "GET", f"{base}/api/profiles?filter={flt}&page%5Bsize%5D={LOOKUP_MAX}&fields%5Bprofile%5D=email",
            self._headers(body=False),
        )  # fmt: skip
        resp = await call(lookup)
        if resp.status_code != 200:
            return resp
        ids = [p["id"] for p in resp.json().get("data", [])]
        if ids:  # emails without a profile are not on the list: nothing to remove
            body = {"data": [{"type": "profile", "id": i} for i in ids]}
            delete = PreparedRequest(
                "DELETE", f"{base}/api/lists/{self.list_id}/relationships/profiles", self._headers(),
                orjson.dumps(body),
            )  # fmt: skip
            resp = await call(delete)
            if not 200 <= resp.status_code < 300:
                return resp
        return [RowResult(r.key, True) for r in records]

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            return {}
        bad: dict[int, str] = {}
        for e in errors:
            m = _POINTER.match(str((e.get("source") or {}).get("pointer", "")))
            if not m or int(m.group(1)) >= n:
                return {}
            bad.setdefault(int(m.group(1)), f"{e.get('title', 'invalid')}: {e.get('detail', '')}".strip())
        return bad

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        # only list removals reach here (imports are settled by their job in exchange)
        return [RowResult(r.key, True) for r in records]

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        """Klaviyo answers 404 for a list or endpoint it does not have; a bulk import
        never answers 404 for one profile. 410: a retired revision."""
        return "request" if response.status_code == 404 else super().refusal_scope(response)

    def error_message(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if errors:
            return f"HTTP {response.status_code}: " + "; ".join(
                f"{e.get('title')}: {e.get('detail')}" for e in errors[:3]
            )
        return super().error_message(response)

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Request Profile Deletion (``POST /api/data-privacy-deletion-jobs``, 202), one profile per call, by
        email: every profile with that email is deleted (Klaviyo finishes the job asynchronously)."""
        out = []
        for r in records:
            profile = {"data": {"type": "profile", "attributes": {"email": r.key.strip().lower()}}}
            body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": profile}}}
            url = f"{self.cfg.destination.base_url}/api/data-privacy-deletion-jobs"
            resp = await call(PreparedRequest("POST", url, self._headers(), orjson.dumps(body)))
            ok = 200 <= resp.status_code < 300
            out.append(RowResult(r.key, ok, "deletion job accepted (202)" if ok else self.error_message(resp)))
        return out

    async def list_members(self, call: Call) -> set[str]:
        """The list's profiles, by email (``GET /api/lists/{id}/profiles``, 100 per page, cursor)."""
        out: set[str] = set()
        url: str | None = f"{self.cfg.destination.base_url}/api/lists/{self.list_id}/profiles?page%5Bsize%5D=100"
        while url:
            resp = await call(PreparedRequest("GET", url, self._headers(body=False)))
            if resp.status_code != 200:
                raise OutflowError(f"sync {self.cfg.name}: listing Klaviyo profiles failed: {self.error_message(resp)}")
            body = resp.json()
            out |= {str(p["attributes"]["email"]) for p in body.get("data", [])}
            url = (body.get("links") or {}).get("next")
        return out
