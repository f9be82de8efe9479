"""The raw data contract: the tables every source (the synthetic generator or a user's files) fills.

This module is the single definition of the contract: the loader validates against it, the generator
writes it, and the README's table documentation is checked against it by a test.

Two tables gate sending (`gates_sending`): consent and erasure decide who may be sent anything, so a load
refuses a missing or empty file for them unless the user declares that the source has none. The erasure
table is a ledger (`append_only`): a load adds new requests and never removes or changes recorded ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of: string, integer, double, boolean, timestamp
    required: bool
    description: str
    accepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    description: str
    columns: tuple[Column, ...]
    gates_sending: bool = False  # a missing or empty file is refused unless declared (consent, erasure)
    append_only: bool = False  # a load adds rows new by `key` and never removes or changes existing ones

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, required: bool, description: str, accepted: tuple[str, ...] = ()) -> Column:
    return Column(name, type_, required, description, accepted)


EMAIL_EVENT_TYPES = ("sent", "delivered", "open", "click", "bounce", "unsubscribe", "spam_report")
CONSENT_CHANNELS = ("email", "sms", "ads")
IDENTIFIER_TYPES = ("email", "phone")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "crm_contacts",
            "contact_id",
            "One row per CRM contact record. The same person may have several records (duplicates).",
            (
                _c("contact_id", "string", True, "CRM record id, unique per record"),
                _c("email", "string", False, "email as typed into the CRM, any case or spacing"),
                _c("phone", "string", False, "phone as typed, any format"),
                _c("first_name", "string", False, "given name"),
                _c("last_name", "string", False, "family name"),
                _c("company", "string", False, "company name"),
                _c("job_title", "string", False, "job title"),
                _c("industry", "string", False, "industry of the company"),
                _c("employee_count", "integer", False, "company head count"),
                _c("country", "string", False, "country name or ISO code"),
                _c("city", "string", False, "city"),
                _c("state", "string", False, "state or region code"),
                _c("postal_code", "string", False, "postal or ZIP code"),
                _c("gender", "string", False, "f, m or empty", ("f", "m")),
                _c("birth_date", "timestamp", False, "date of birth"),
                _c("created_at", "timestamp", True, "when the record was created"),
                _c("updated_at", "timestamp", True, "when the record last changed"),
            ),
        ),
        Table(
            "web_events",
            "event_id",
            "Website and product events, keyed by a browser cookie; user id or email when known.",
            (
                _c("event_id", "string", True, "unique event id"),
                _c("cookie_id", "string", True, "first-party browser cookie"),
                _c("user_id", "string", False, "logged-in user id, when known"),
                _c("email", "string", False, "email submitted on a form, when known"),
                _c(
                    "event_type",
                    "string",
                    True,
                    "page_view, signup, login, form_submit, add_to_cart, checkout_started, trial_started",
                ),
                _c("page_path", "string", False, "URL path, e.g. /pricing"),
                _c("occurred_at", "timestamp", True, "when it happened (browser clock)"),
                _c("received_at", "timestamp", True, "when it reached the warehouse; late events lag"),
            ),
        ),
        Table(
            "email_events",
            "event_id",
            "Email service provider events per recipient address.",
            (
                _c("event_id", "string", True, "unique event id"),
                _c("email", "string", True, "recipient address"),
                _c("campaign_id", "string", True, "campaign or flow id"),
                _c("event_type", "string", True, "what happened", EMAIL_EVENT_TYPES),
                _c("bounce_type", "string", False, "hard or soft, for bounces", ("hard", "soft")),
                _c("occurred_at", "timestamp", True, "when it happened"),
            ),
        ),
        Table(
            "orders",
            "order_id",
            "Orders from the shop, with the buyer's contact details as entered at checkout.",
            (
                _c("order_id", "string", True, "unique order id"),
                _c("email", "string", False, "buyer email"),
                _c("phone", "string", False, "buyer phone, any format"),
                _c("user_id", "string", False, "logged-in user id, when known"),
                _c("amount", "double", True, "order value in the currency"),
                _c("currency", "string", True, "ISO 4217 code"),
                _c("status", "string", True, "order status", ("completed", "refunded", "cancelled")),
                _c("ordered_at", "timestamp", True, "when it was placed"),
            ),
        ),
        Table(
            "consent_events",
            "event_id",
            "Consent changes per identifier, purpose and channel. The latest event wins.",
            (
                _c("event_id", "string", True, "unique event id"),
                _c("identifier_type", "string", True, "which identifier", IDENTIFIER_TYPES),
                _c("identifier", "string", True, "the email or phone, as captured"),
                _c("purpose", "string", True, "marketing, analytics or transactional"),
                _c("channel", "string", True, "channel the consent covers", CONSENT_CHANNELS),
                _c("status", "string", True, "granted or revoked", ("granted", "revoked")),
                _c(
                    "source",
                    "string",
                    True,
                    "where it was captured: web_form, preference_center, crm, import",
                ),
                _c("occurred_at", "timestamp", True, "when it was given or withdrawn"),
            ),
            gates_sending=True,
        ),
        Table(
            "erasure_requests",
            "request_id",
            "Right-to-erasure requests. An erased person is removed from every destination.",
            (
                _c("request_id", "string", True, "unique request id"),
                _c("identifier_type", "string", True, "which identifier", IDENTIFIER_TYPES),
                _c("identifier", "string", True, "the email or phone to erase"),
                _c("requested_at", "timestamp", True, "when the request was received"),
            ),
            gates_sending=True,
            append_only=True,
        ),
    )
}

GATING_TABLES: tuple[str, ...] = tuple(name for name, table in TABLES.items() if table.gates_sending)

#: What an erasure request's `identifier` becomes once every destination has erased the person: this prefix and
#: the SHA-256 the erasure ledger keeps, so no raw identifier of an erased person stays in `raw.erasure_requests`.
ERASED_IDENTIFIER_PREFIX = "erased:sha256:"
