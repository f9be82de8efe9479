"""Standard Webhooks signatures: signing (the webhook destination) and verifying (its sandbox, and any
receiver). Apart from the destination so a receiver loads only ``hashlib``/``hmac``, not the sync engine.

``webhook-signature`` is ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, keyed with the
base64-decoded part of the ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

#: the type of the message ``outflow sync test`` sends: signed, with no records
PING = "outflow.ping"


def decode_secret(secret: str) -> bytes:
    """The HMAC key from a ``whsec_<base64>`` secret."""
    body = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("secret is not whsec_ followed by base64") from exc
    if not key:
        raise ValueError("secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    key = decode_secret(secret)
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """Check a received message's signature (any of the space-separated v1 signatures) and timestamp."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    try:
        ts_i = int(ts)
    except ValueError:
        return False
    if abs(time.time() - ts_i) > tolerance_s:
        return False
    expected = sign(secret, msg_id, ts_i, body).split(",", 1)[1]
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False
