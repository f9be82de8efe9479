from __future__ import annotations

import time

import pytest

from activations.webhook_signature import decode_secret, sign, verify


def test_standard_webhooks_reference_vector() -> None:
    # Test vector published with the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_accepts_good_and_rejects_tampering() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    ts = int(time.time())
    body = b'{"a":1}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, "msg_1", ts, body),
    }
    assert verify(secret, headers, body)
    assert not verify(secret, headers, b'{"a":2}')
    assert not verify(secret, {**headers, "webhook-id": "msg_2"}, body)
    old = ts - 3600
    stale = {**headers, "webhook-timestamp": str(old), "webhook-signature": sign(secret, "msg_1", old, body)}
    assert not verify(secret, stale, body)
    # several signatures (key rotation): any valid v1 one is enough
    multi = {**headers, "webhook-signature": "v1,bogus " + headers["webhook-signature"]}
    assert verify(secret, multi, body)


def test_bad_secret_shape() -> None:
    with pytest.raises(ValueError):
        decode_secret("whsec_not base64!!")
