"""SendGrid Marketing Campaigns contacts and list membership.

- Upsert: ``PUT /v3/marketing/contacts`` ``{"list_ids": [list_id], "contacts": [...]}`` — up to 30,000
  contacts (or 6 MB) per call; an asynchronous job answered ``202 {"job_id"}``. A ``400 {"errors": [{"field":
  "contacts[i].email", "message"}]}`` refuses the whole call: those rows are rejected and the rest resent.
- The job is then polled (``GET /v3/marketing/contacts/imports/{job_id}``, bounded, with backoff; options
  ``job_poll_timeout_seconds`` (default 120), ``job_poll_interval_seconds``, ``job_poll_max_interval_seconds``)
  until its ``status`` is ``completed``, ``errored`` or ``failed``. For ``errored``/``failed`` the file at
  ``results.errors_url`` (CSV; fetched WITHOUT the API key, it is a pre-signed download) names the refused
  contacts by email: those rows are rejected with SendGrid's message. Rows SendGrid does not confirm are never
  reported delivered: a job still ``pending`` at the timeout, a ``failed`` job, or errors the file does not
  attribute (``errored_count`` above what the file names) reject the rows with a message naming the job; the
  engine re-sends rejected rows next run (the upsert is idempotent).
- Removal (mirror): ``POST /v3/marketing/contacts/search/emails`` (≤ 100 emails) gives the contact ids, then
  ``DELETE /v3/marketing/lists/{list_id}/contacts?contact_ids=a,b`` (``202 {"job_id"}``). Contacts stay in
  SendGrid; only their list membership goes.
- Auth: ``Authorization: Bearer <API key>``.
- A 404 (SendGrid: "the specified list ID does not exist") and a 400 naming ``list_ids`` are about the request:
  the sync stops after that one request with SendGrid's message instead of splitting the batch.

The sync's primary key column must be mapped to ``email`` (removals carry only the key). Destination fields
are ContactRequest properties (``email``, ``first_name``, ``last_name``, ``city``, ``postal_code``, ...) or
``custom_fields.<field id>``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from typing import Any

import httpx
import orjson

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RefusalScope, RowResult
from activations.destinations.jobs import JobPolling, finished_job, json_object, poll, reject_all, settle, submit
from outflow.errors import OutflowError

_FIELD_INDEX = re.compile(r"contacts\[(\d+)\]")
SEARCH_MAX = 100
JOB_DONE = ("completed", "errored", "failed")


class SendGridDestination(Destination):
    erasure = "delete contact"
    can_list_members = True
    type = "sendgrid"
    max_batch_size = 30_000
    max_batch_bytes = 6 * 1024 * 1024

    def check_config(self) -> None:
        self.require_key_mapped_to("email")
        self.list_id = str(self.option("list_id", required=True))
        if self.cfg.mode.value not in ("upsert", "mirror"):
            raise OutflowError(
                f"{self.cfg.path or self.cfg.name}: mode: SendGrid contacts take upsert or mirror "
                "(PUT /v3/marketing/contacts always upserts)"
            )
        self.polling = JobPolling.from_options(self, timeout=120.0)

    def _headers(self, body: bool = True) -> dict[str, str]:
        h = {"authorization": f"Bearer {self._secret}"}
        if body:
            h["content-type"] = "application/json"
        return h

    def check_request(self) -> PreparedRequest:
        """``GET /v3/scopes``: the scopes of the API key (needs a valid key)."""
        return PreparedRequest("GET", f"{self.cfg.destination.base_url}/v3/scopes", self._headers(body=False))

    def _contact(self, r: Record) -> dict[str, Any]:
        c: dict[str, Any] = {}
        for k, v in r.fields.items():
            if v is None:
                continue
            if k.startswith("custom_fields."):
                c.setdefault("custom_fields", {})[k.split(".", 1)[1]] = str(v)
            else:
                c[k] = str(v).strip().lower() if k == "email" else str(v)
        return c

    def group(self, records: list[Record]) -> list[list[Record]]:
        ups = [r for r in records if r.op != "delete"]
        dels = [r for r in records if r.op == "delete"]
        return [g for g in [ups, *(dels[i : i + SEARCH_MAX] for i in range(0, len(dels), SEARCH_MAX))] if g]

    def build_request(self, records: list[Record]) -> PreparedRequest:
        body = {"list_ids": [self.list_id], "contacts": [self._contact(r) for r in records]}
        url = f"{self.cfg.destination.base_url}/v3/marketing/contacts"
        return PreparedRequest("PUT", url, self._headers(), orjson.dumps(body))

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        if records[0].op == "delete":
            return await self._remove(call, records)
        return await submit(self, call, records, lambda resp: resp.json()["job_id"], self._await_job)

    async def _await_job(self, call: Call, job_id: str, records: list[Record]) -> list[RowResult]:
        """Poll the import job; per-row outcome from its status and errors file."""
        url = f"{self.cfg.destination.base_url}/v3/marketing/contacts/imports/{job_id}"
        head = f"SendGrid import job {job_id}"
        job = await finished_job(
            self, call, PreparedRequest("GET", url, self._headers(False)), records, head=head,
            polling=self.polling, attrs=json_object, done=JOB_DONE,
        )  # fmt: skip
        if isinstance(job, list):
            return job
        status = job.get("status")
        if status == "completed":
            return [RowResult(r.key, True) for r in records]
        results = job.get("results") or {}
        errored = results.get("errored_count")
        refused: dict[str, str] | None = {}
        if results.get("errors_url"):
            refused = await self._errors_file(call, str(results["errors_url"]))
        head = f"{head} {status}"
        if refused is None:  # the file could not be read: nothing is confirmed
            return reject_all(records, f"{head} ({errored if errored is not None else '?'} errors; errors file "
                                       "unreadable): not confirmed")  # fmt: skip
        named = {r.key: refused[e] for r in records if (e := r.key.strip().lower()) in refused}
        failed = int(errored) if isinstance(errored, int | float) else None
        return settle(records, head, named, failed, none_confirmed=status == "failed")

    async def _errors_file(self, call: Call, url: str) -> dict[str, str] | None:
        """email -> SendGrid's message from the job's errors file, or None if it cannot be read.

        The file is a download link (pre-signed), fetched without the API key so that the key never goes
        to another host. CSV with a header row; the email column is the one named ``email`` (or containing
        it), the message is every column naming an error/message/reason."""
        resp = await call(PreparedRequest("GET", url, {"accept": "text/csv, */*"}))
        if resp.status_code != 200:
            return None
        data = resp.content
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except OSError:
                return None
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
        if not rows:
            return None
        header = [h.strip().lower() for h in rows[0]]
        email_col = next((i for i, h in enumerate(header) if h == "email"), None)
        if email_col is None:
            email_col = next((i for i, h in enumerate(header) if "email" in h), None)
        msg_cols = [i for i, h in enumerate(header) if any(w in h for w in ("error", "message", "reason"))]
        if email_col is None or not msg_cols:
            return None
        out: dict[str, str] = {}
        for row in rows[1:]:
            if len(row) <= email_col or not row[email_col].strip():
                continue
            msg = "; ".join(row[i].strip() for i in msg_cols if i < len(row) and row[i].strip())
            out[row[email_col].strip().lower()] = msg or "refused by the import job"
        return out

    def throttle_delay(self, response: httpx.Response) -> float | None:
        """SendGrid signals a throttle with ``X-RateLimit-Reset`` (Unix time of the window's reset), not
        Retry-After."""
        return _until_reset(response) if response.status_code == 429 else super().throttle_delay(response)

    def quota_delay(self, response: httpx.Response) -> float | None:
        """``X-RateLimit-Remaining: 0`` on an accepted answer: wait for the reset before SendGrid refuses."""
        if response.headers.get("x-ratelimit-remaining") == "0":
            return _until_reset(response)
        return None

    def is_auth_failure(self, response: httpx.Response) -> bool:
        # a 401/403 on the errors-file download (an expired link) is not a refusal of the API key
        return super().is_auth_failure(response) and "/v3/" in response.request.url.path

    def refusal_scope(self, response: httpx.Response) -> RefusalScope:
        if response.status_code == 404:
            return "request"
        if response.status_code == 400:
            try:
                errors = response.json().get("errors") or []
            except (ValueError, AttributeError):
                errors = []
            if any(str(e.get("field") or "").startswith("list_ids") for e in errors if isinstance(e, dict)):
                return "request"
        return super().refusal_scope(response)

    def row_errors(self, response: httpx.Response, n: int) -> dict[int, str]:
        if response.status_code != 400:
            return {}
        try:
            errors = response.json().get("errors", [])
        except (ValueError, AttributeError):
            return {}
        bad: dict[int, str] = {}
        for e in errors:
            m = _FIELD_INDEX.search(str(e.get("field", "")))
            if not m or int(m.group(1)) >= n:
                return {}  # an error about the whole call
            bad.setdefault(int(m.group(1)), f"{e.get('field')}: {e.get('message')}")
        return bad

    async def _remove(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        base = self.cfg.destination.base_url
        emails = [r.key.strip().lower() for r in records]
        search = PreparedRequest(
            "POST", f"{base}/v3/marketing/contacts/search/emails", self._headers(),
            orjson.dumps({"emails": emails}),
        )  # fmt: skip
        resp = await call(search)
        if resp.status_code == 404:  # none of them is a contact any more: nothing to remove
            return [RowResult(r.key, True) for r in records]
        if resp.status_code != 200:
            return resp
        found = resp.json().get("result", {})
        ids = [found[e]["contact"]["id"] for e in emails if "contact" in found.get(e, {})]
        if ids:
            delete = PreparedRequest(
                "DELETE",
                f"{base}/v3/marketing/lists/{self.list_id}/contacts?contact_ids={','.join(ids)}",
                {"authorization": f"Bearer {self._secret}"},
            )
            resp = await call(delete)
            if resp.status_code not in (200, 202, 204):
                return resp
        return [RowResult(r.key, True) for r in records]

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:
        # only list removals reach here (upserts are settled by their job in exchange)
        return [RowResult(r.key, True) for r in records]

    def error_message(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if errors:
            return f"HTTP {response.status_code}: " + "; ".join(
                f"{e.get('field') + ': ' if e.get('field') else ''}{e.get('message')}" for e in errors[:3]
            )
        return super().error_message(response)

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """Find the contacts (``POST /v3/marketing/contacts/search/emails``), then delete them from the account
        (``DELETE /v3/marketing/contacts?ids=``, 202 with a job id); an email that is no contact is already
        gone."""
        base = self.cfg.destination.base_url
        emails = [r.key.strip().lower() for r in records]
        resp = await call(PreparedRequest("POST", f"{base}/v3/marketing/contacts/search/emails", self._headers(),
                                          orjson.dumps({"emails": emails})))  # fmt: skip
        if resp.status_code == 404:
            return [RowResult(r.key, True, "no such contact") for r in records]
        if resp.status_code != 200:
            return self.settle(resp, records)
        found = resp.json().get("result", {})
        ids = {e: found[e]["contact"]["id"] for e in emails if "contact" in found.get(e, {})}
        if ids:
            url = f"{base}/v3/marketing/contacts?ids={','.join(sorted(set(ids.values())))}"
            resp = await call(PreparedRequest("DELETE", url, {"authorization": f"Bearer {self._secret}"}))
            if resp.status_code != 202:
                return (
                    self.settle(resp, records)
                    if resp.status_code >= 300
                    else [
                        RowResult(r.key, False, f"unexpected SendGrid answer HTTP {resp.status_code}") for r in records
                    ]
                )
            job = json_object(resp).get("job_id")
            return [RowResult(r.key, True, f"deletion job {job}" if e in ids else "no such contact")
                    for r, e in zip(records, emails, strict=True)]  # fmt: skip
        return [RowResult(r.key, True, "no such contact") for r in records]

    async def list_members(self, call: Call) -> set[str]:
        """The list's contacts, by email: an export of the list (``POST /v3/marketing/contacts/exports``), polled
        (``GET .../exports/{id}``) until ``ready``, then its CSV files fetched from their pre-signed URLs (without
        the API key). Search returns at most 50 contacts, so it cannot list a whole list."""
        base = self.cfg.destination.base_url
        body = orjson.dumps({"list_ids": [self.list_id], "file_type": "csv"})
        resp = await call(PreparedRequest("POST", f"{base}/v3/marketing/contacts/exports", self._headers(), body))
        export_id = json_object(resp).get("id") if resp.status_code == 202 else None
        if not export_id:
            raise OutflowError(f"sync {self.cfg.name}: SendGrid refused the export: {self.error_message(resp)}")
        status = PreparedRequest("GET", f"{base}/v3/marketing/contacts/exports/{export_id}", self._headers(False))
        polled = await poll(lambda: call(status), lambda r: json_object(r).get("status") in ("ready", "failure")
                            or r.status_code != 200, self.polling, what=f"SendGrid export {export_id}")  # fmt: skip
        job = json_object(polled.last)
        if job.get("status") != "ready":
            state = job.get("status") or "unreadable"
            why = f": {job['message']}" if job.get("message") else ""
            raise OutflowError(f"sync {self.cfg.name}: SendGrid export {export_id} is {state}{why}")
        out: set[str] = set()
        for url in job.get("urls") or []:
            got = await call(PreparedRequest("GET", str(url), {"accept": "text/csv, */*"}))
            data = got.content
            if got.status_code != 200:
                raise OutflowError(f"sync {self.cfg.name}: SendGrid export file not readable (HTTP {got.status_code})")
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig", errors="replace")))
            out |= {(r.get("EMAIL") or r.get("email") or "").strip().lower() for r in rows} - {""}
        return out


def _until_reset(response: httpx.Response) -> float | None:
    try:
        reset = float(response.headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None
    return max(0.0, reset - time.time())
