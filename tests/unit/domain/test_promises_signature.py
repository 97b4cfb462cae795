"""Webhook signatures that are almost right are refused: written from the README's promise.

README: "``Authorization`` is the lowercase hex HMAC-SHA256 of ``app_key + raw body``, keyed with
``app_secret``, compared in constant time"; "a webhook signed by any of them [the configured
apps] is accepted"; ``401`` for a bad or missing signature. Every near miss below differs from a
valid signature in one way only, so a comparison that looks at part of the value (a prefix, a
suffix, its length), or that mixes up whose key goes with whose secret, lets one through.

The expected signatures are computed here with ``hmac`` directly, not with the code under test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from creatorflow.domain.webhook import AppCredentials, verify_signature
from creatorflow.errors import WebhookRejected

BODY = (
    b'{"type":1,"tts_notification_id":"7400000000000000009","shop_id":"7490000000000000001",'
    b'"timestamp":1700000000,"data":{"is_on_hold_order":false,"order_id":"576000000000000009",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1700000000}}'
)
OTHER_BODY = BODY.replace(b"576000000000000009", b"576000000000000008")

SHOP_A = AppCredentials(app_key="app-a", app_secret="secret-a")
SHOP_B = AppCredentials(app_key="app-b", app_secret="secret-b")
APPS = [SHOP_A, SHOP_B]


def hmac_hex(key: str, secret: str, body: bytes) -> str:
    """The README's definition, spelled out: hex HMAC-SHA256(app_secret, app_key + body)."""
    return hmac.new(secret.encode(), key.encode() + body, hashlib.sha256).hexdigest()


GOOD = hmac_hex("app-a", "secret-a", BODY)


def flip(sig: str, at: int) -> str:
    """``sig`` with the hex digit at ``at`` replaced by another hex digit."""
    digit = sig[at]
    other = "0" if digit != "0" else "1"
    return sig[:at] + other + sig[at + 1 :]


NEAR_MISSES = {
    "first digit off": flip(GOOD, 0),
    "fourth digit off": flip(GOOD, 3),
    "fifth digit off": flip(GOOD, 4),
    "middle digit off": flip(GOOD, 32),
    "last digit off": flip(GOOD, 63),
    "two digits swapped": GOOD[1] + GOOD[0] + GOOD[2:] if GOOD[0] != GOOD[1] else flip(GOOD, 1),
    "truncated by one": GOOD[:-1],
    "first half only": GOOD[:32],
    "first four digits only": GOOD[:4],
    "one digit too many": GOOD + "0",
    "signed twice over": GOOD + GOOD,
    "uppercase, last digit off": flip(GOOD, 63).upper(),
    "app-a's key with app-b's secret": hmac_hex("app-a", "secret-b", BODY),
    "app-b's key with app-a's secret": hmac_hex("app-b", "secret-a", BODY),
    "another app entirely": hmac_hex("app-c", "secret-c", BODY),
    "app-a's signature of another body": hmac_hex("app-a", "secret-a", OTHER_BODY),
    "body signed without the app key": hmac.new(b"secret-a", BODY, hashlib.sha256).hexdigest(),
    "app key after the body": hmac.new(b"secret-a", BODY + b"app-a", hashlib.sha256).hexdigest(),
    "sha1 instead of sha256": hmac.new(b"secret-a", b"app-a" + BODY, hashlib.sha1).hexdigest(),
    "raw digest, not hex": hmac.new(b"secret-a", b"app-a" + BODY, hashlib.sha256)
    .digest()
    .decode("latin-1"),
    "plain sha256 of key and body": hashlib.sha256(b"app-a" + BODY).hexdigest(),
    "the app secret itself": "secret-a",
    "zeros": "0" * 64,
    "whitespace": "   ",
}


def test_the_near_misses_are_each_a_different_value() -> None:
    # The list tests what it says: no near miss happens to be the valid signature.
    assert GOOD not in NEAR_MISSES.values()
    assert len(GOOD) == 64
    assert verify_signature(APPS, BODY, GOOD) == "app-a"


@pytest.mark.parametrize("header", list(NEAR_MISSES.values()), ids=list(NEAR_MISSES))
def test_a_near_miss_is_refused(header: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        verify_signature(APPS, BODY, header)
    assert info.value.status == 401
    assert info.value.code in {"bad_signature", "missing_signature"}


@pytest.mark.parametrize("header", [None, ""])
def test_no_signature_is_missing_signature(header: str | None) -> None:
    with pytest.raises(WebhookRejected) as info:
        verify_signature(APPS, BODY, header)
    assert (info.value.status, info.value.code) == (401, "missing_signature")


def test_each_configured_app_is_accepted_and_named() -> None:
    assert verify_signature(APPS, BODY, hmac_hex("app-a", "secret-a", BODY)) == "app-a"
    assert verify_signature(APPS, BODY, hmac_hex("app-b", "secret-b", BODY)) == "app-b"
    # Order of the configured apps does not matter.
    assert verify_signature([SHOP_B, SHOP_A], BODY, GOOD) == "app-a"


def test_a_signature_of_one_body_does_not_verify_another() -> None:
    good_other = hmac_hex("app-a", "secret-a", OTHER_BODY)
    assert verify_signature(APPS, OTHER_BODY, good_other) == "app-a"
    for body, sig in ((BODY, good_other), (OTHER_BODY, GOOD), (BODY + b"\n", GOOD)):
        with pytest.raises(WebhookRejected) as info:
            verify_signature(APPS, body, sig)
        assert info.value.code == "bad_signature"


def test_the_right_signature_in_uppercase_is_the_same_digest() -> None:
    # TikTok sends lowercase hex; the same digest in uppercase hex is the same 32 bytes, so it
    # is accepted (a near miss in uppercase is not: see NEAR_MISSES).
    assert verify_signature(APPS, BODY, GOOD.upper()) == "app-a"


def test_an_app_removed_from_the_config_is_refused() -> None:
    with pytest.raises(WebhookRejected) as info:
        verify_signature([SHOP_B], BODY, GOOD)
    assert info.value.code == "bad_signature"
