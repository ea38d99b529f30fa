import base64

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal.lib import webhook_signing as ws

# The published Standard Webhooks / Svix test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_it_matches_the_published_vector():
    assert ws.sign(secret=VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TS, body=VECTOR_BODY) == VECTOR_SIG


def test_the_prefix_is_optional_in_the_secret():
    bare = VECTOR_SECRET.removeprefix("whsec_")
    assert ws.sign(secret=bare, msg_id=VECTOR_ID, timestamp=VECTOR_TS, body=VECTOR_BODY) == VECTOR_SIG


def test_it_verifies_the_vector_and_refuses_a_changed_body():
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIG}
    ws.verify(secret=VECTOR_SECRET, headers=headers, body=VECTOR_BODY, now=VECTOR_TS + 10)
    with pytest.raises(ws.SignatureError):
        ws.verify(secret=VECTOR_SECRET, headers=headers, body=b'{"test":2432232314}', now=VECTOR_TS + 10)


def test_it_refuses_a_stale_timestamp():
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIG}
    with pytest.raises(ws.SignatureError, match="tolerance"):
        ws.verify(secret=VECTOR_SECRET, headers=headers, body=VECTOR_BODY, now=VECTOR_TS + 301)


def test_it_refuses_missing_headers():
    with pytest.raises(ws.SignatureError, match="missing"):
        ws.verify(secret=VECTOR_SECRET, headers={"webhook-id": VECTOR_ID}, body=VECTOR_BODY)


def test_generated_secrets_have_24_to_64_random_bytes():
    secret = ws.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert ws.generate_secret() != secret
    for size in (24, 64):
        assert len(ws.secret_key(ws.generate_secret(size))) == size
    with pytest.raises(ValueError):
        ws.generate_secret(16)
    with pytest.raises(ValueError):
        ws.secret_key("whsec_" + base64.b64encode(b"short").decode())


def test_during_rotation_both_secrets_sign_and_either_verifies():
    old, new = ws.generate_secret(), ws.generate_secret()
    headers = ws.headers(secrets=[new, old], msg_id="evt_1", timestamp=VECTOR_TS, body=b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        ws.verify(secret=secret, headers=headers, body=b"{}", now=VECTOR_TS)
    with pytest.raises(ws.SignatureError):
        ws.verify(secret=ws.generate_secret(), headers=headers, body=b"{}", now=VECTOR_TS)


def test_the_official_standardwebhooks_package_verifies_our_signatures():
    import time

    secret = ws.generate_secret()
    body = '{"type":"payment.succeeded","data":{"amount":2500,"note":"caf\u00e9"}}'.encode()
    now = int(time.time())
    headers = ws.headers(secrets=[secret, ws.generate_secret()], msg_id="evt_abc", timestamp=now, body=body)
    assert Webhook(secret).verify(body, headers) == {
        "type": "payment.succeeded",
        "data": {"amount": 2500, "note": "café"},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(ws.generate_secret()).verify(body, headers)
