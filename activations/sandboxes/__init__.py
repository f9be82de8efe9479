"""Local sandboxes speaking each destination's contract (see ``activations.sandboxes.base``)."""

from __future__ import annotations

from typing import Any

#: The token every vendor sandbox accepts unless told otherwise (``OUTFLOW_SANDBOX_TOKEN``), and the webhook
#: sandbox's Standard Webhooks secret (``OUTFLOW_SANDBOX_SECRET``): fixed and documented, so that
#: `outflow sandbox`, `make ui` and a user's shell agree on them. They guard nothing but local test servers.
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_WEBHOOK_SECRET = "whsec_b3V0Zmxvdy1zYW5kYm94LWtleS0wMDAx"  # make_secret(): base64 of outflow-sandbox-key-0001


def sandbox_credentials() -> tuple[str, str]:
    """The vendor token and the webhook secret the sandboxes use: OUTFLOW_SANDBOX_TOKEN / OUTFLOW_SANDBOX_SECRET,
    else the documented defaults."""
    import os

    return (
        os.environ.get("OUTFLOW_SANDBOX_TOKEN") or SANDBOX_TOKEN,
        os.environ.get("OUTFLOW_SANDBOX_SECRET") or SANDBOX_WEBHOOK_SECRET,
    )


def sync_environment(running: dict[str, Any], syncs: list[Any]) -> dict[str, str]:
    """The environment variables (name -> value) each declared sync needs to reach its running sandbox."""
    env: dict[str, str] = {}
    for cfg in syncs:
        if cfg.destination.type in running:
            env.update(running[cfg.destination.type].credentials(cfg))
    return dict(sorted(env.items()))


def vendor_sandboxes() -> dict[str, Any]:
    """destination type -> sandbox class, for every vendor destination."""
    from activations.sandboxes.google_ads import GoogleAdsSandbox
    from activations.sandboxes.google_data_manager import GoogleDataManagerSandbox
    from activations.sandboxes.hubspot import HubSpotSandbox
    from activations.sandboxes.klaviyo import KlaviyoSandbox
    from activations.sandboxes.mailchimp import MailchimpSandbox
    from activations.sandboxes.meta import MetaSandbox
    from activations.sandboxes.salesforce import SalesforceSandbox
    from activations.sandboxes.sendgrid import SendGridSandbox
    from activations.sandboxes.triggers import BrazeSandbox, CustomerIoSandbox
    from activations.sandboxes.twilio import TwilioSandbox

    return {
        "sendgrid": SendGridSandbox,
        "klaviyo": KlaviyoSandbox,
        "hubspot": HubSpotSandbox,
        "meta_audiences": MetaSandbox,
        "salesforce": SalesforceSandbox,
        "google_ads_customer_match": GoogleAdsSandbox,
        "braze": BrazeSandbox,
        "customerio": CustomerIoSandbox,
        "mailchimp": MailchimpSandbox,
        "google_data_manager": GoogleDataManagerSandbox,
        "twilio_sms": TwilioSandbox,
    }


def start_all(*, token: str, webhook_secret: str, port_base: int = 0, real_rate_limits: bool = False) -> dict[str, Any]:
    """Start the webhook sandbox and every vendor sandbox on 127.0.0.1; returns type -> running sandbox.
    ``port_base`` 0 picks free ports; otherwise webhook gets ``port_base`` and the vendors the next ports."""
    from activations.sandboxes.webhook import WebhookSandbox

    started: dict[str, Any] = {}
    try:
        port = port_base
        started["webhook"] = WebhookSandbox(webhook_secret, port=port).start()
        for i, (kind, cls) in enumerate(vendor_sandboxes().items(), start=1):
            p = port_base + i if port_base else 0
            started[kind] = cls(token=token, port=p, real_rate_limit=real_rate_limits).start()
    except BaseException:
        for sb in started.values():
            sb.stop()
        raise
    return started
