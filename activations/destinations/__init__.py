"""Destinations: one module per vendor contract, registered by type name."""

from __future__ import annotations

from activations.destinations.base import Destination


def _registry() -> dict[str, type[Destination]]:
    from activations.destinations.file_export import FileExportDestination
    from activations.destinations.google_ads import GoogleAdsCustomerMatchDestination
    from activations.destinations.google_data_manager import GoogleDataManagerDestination
    from activations.destinations.hubspot import HubSpotDestination
    from activations.destinations.klaviyo import KlaviyoDestination
    from activations.destinations.mailchimp import MailchimpDestination
    from activations.destinations.meta import MetaAudienceDestination
    from activations.destinations.salesforce import SalesforceDestination
    from activations.destinations.sendgrid import SendGridDestination
    from activations.destinations.triggers import BrazeDestination, CustomerIoDestination
    from activations.destinations.twilio import TwilioSmsDestination
    from activations.destinations.webhook import WebhookDestination

    classes: list[type[Destination]] = [
        WebhookDestination,
        SendGridDestination,
        KlaviyoDestination,
        HubSpotDestination,
        MetaAudienceDestination,
        SalesforceDestination,
        GoogleAdsCustomerMatchDestination,
        GoogleDataManagerDestination,
        TwilioSmsDestination,
        BrazeDestination,
        CustomerIoDestination,
        FileExportDestination,
        MailchimpDestination,
    ]
    return {c.type: c for c in classes}


class _Lazy(dict):
    """Registry filled on first use (avoids import cycles with activations.config)."""

    def _fill(self) -> None:
        if not super().__len__():
            self.update(_registry())

    def __contains__(self, k: object) -> bool:
        self._fill()
        return super().__contains__(k)

    def __getitem__(self, k: str) -> type[Destination]:
        self._fill()
        return super().__getitem__(k)

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()


DESTINATIONS: dict[str, type[Destination]] = _Lazy()
