"""Local sandboxes speaking each destination's contract (see ``activations.sandboxes.base``)."""

from __future__ import annotations

from typing import Any


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
