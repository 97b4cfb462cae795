"""Webhook signature and envelope parsing, against the reference's vectors (§1.2)."""

from __future__ import annotations

import hashlib

import pytest

from creatorflow.domain.webhook import (
    AppCredentials,
    dedupe_key,
    order_status_change,
    parse_envelope,
    shop_of,
    sign_webhook,
    topic_name,
    verify_signature,
)
from creatorflow.errors import WebhookRejected

GOLDEN_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
GOLDEN_SIG = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
SECOND_BODY = (
    b'{"type":1,"tts_notification_id":"7400000000000000001","shop_id":"7490000000000000001",'
    b'"timestamp":1700000000,"data":{"is_on_hold_order":false,"order_id":"576000000000000001",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1700000000}}'
)
SECOND_SIG = "9c0b84a4b77e0b29dc43258c7560597d490ece125dea0b989f1bdceee3fa08ad"

GOLDEN_APP = AppCredentials(app_key="abcdef", app_secret="123")
SECOND_APP = AppCredentials(app_key="myappkey", app_secret="s3cr3t")


def test_golden_vector_signs_as_tiktok_does() -> None:
    assert sign_webhook("abcdef", "123", GOLDEN_BODY) == GOLDEN_SIG
    assert sign_webhook("myappkey", "s3cr3t", SECOND_BODY) == SECOND_SIG


def test_verify_picks_the_app_that_signed() -> None:
    apps = [SECOND_APP, GOLDEN_APP]
    assert verify_signature(apps, GOLDEN_BODY, GOLDEN_SIG) == "abcdef"
    assert verify_signature(apps, SECOND_BODY, SECOND_SIG) == "myappkey"


def test_verify_accepts_uppercase_hex_and_whitespace() -> None:
    assert verify_signature([GOLDEN_APP], GOLDEN_BODY, f" {GOLDEN_SIG.upper()} ") == "abcdef"


@pytest.mark.parametrize(
    ("body", "header", "code"),
    [
        (GOLDEN_BODY, None, "missing_signature"),
        (GOLDEN_BODY, "", "missing_signature"),
        (GOLDEN_BODY, SECOND_SIG, "bad_signature"),
        (GOLDEN_BODY + b" ", GOLDEN_SIG, "bad_signature"),  # re-serialised body
        (GOLDEN_BODY, f"Bearer {GOLDEN_SIG}", "bad_signature"),
    ],
)
def test_verify_rejects_with_401(body: bytes, header: str | None, code: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        verify_signature([GOLDEN_APP], body, header)
    assert info.value.status == 401
    assert info.value.code == code


def test_no_configured_app_rejects_everything() -> None:
    with pytest.raises(WebhookRejected):
        verify_signature([], GOLDEN_BODY, GOLDEN_SIG)


def test_secret_is_not_in_repr() -> None:
    assert "123" not in repr(GOLDEN_APP).replace("abcdef", "")


def test_parse_golden_envelope() -> None:
    env = parse_envelope(GOLDEN_BODY)
    assert env.type == 1
    assert env.tts_notification_id == "7380066284010030890"
    assert shop_of(env) == "7495540735365777507"
    change = order_status_change(env)
    assert change.order_id == "576653688135258178"
    assert change.order_status == "UNPAID"
    assert change.is_on_hold_order is True
    assert dedupe_key(env, GOLDEN_BODY) == "7380066284010030890"


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        (b"not json", "invalid_json", ""),
        (b'{"type":"1","timestamp":1,"data":{}}', "invalid_envelope", "$.type"),
        (b'{"type":1,"data":{}}', "invalid_envelope", "timestamp"),
        (b'{"type":5,"timestamp":1,"data":[]}', "invalid_envelope", "$.data"),
        (b'{"type":1,"timestamp":1,"data":{"order_status":"UNPAID","update_time":1}}',
         "invalid_data", "order_id"),
        (b'{"type":1,"timestamp":1,"data":{"order_id":5,"order_status":"X","update_time":1}}',
         "invalid_data", "$.data.order_id"),
    ],
)  # fmt: skip
def test_malformed_is_400_naming_the_problem(body: bytes, code: str, where: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        parse_envelope(body)
    assert info.value.status == 400
    assert info.value.code == code
    assert where in info.value.detail


def test_unknown_topic_parses_and_has_a_name() -> None:
    body = b'{"type":999,"tts_notification_id":"n1","shop_id":"s","timestamp":1,"data":{"x":1}}'
    env = parse_envelope(body)
    assert env.type == 999
    assert topic_name(999) == "UNKNOWN_999"
    assert topic_name(1) == "ORDER_STATUS_CHANGE"


def test_missing_notification_id_falls_back_to_body_hash() -> None:
    body = b'{"type":3,"shop_id":"s","timestamp":1,"data":{"order_id":"1","update_time":2}}'
    env = parse_envelope(body)
    assert dedupe_key(env, body) == "sha256:" + hashlib.sha256(body).hexdigest()


def test_seller_open_id_stands_in_for_shop() -> None:
    body = b'{"type":19,"seller_open_id":"sel","timestamp":1,"data":{}}'
    assert shop_of(parse_envelope(body)) == "sel"


def test_big_unquoted_ids_keep_precision() -> None:
    body = b'{"type":5,"shop_id":"s","timestamp":1,"data":{"product_id":1729382256910270464}}'
    assert parse_envelope(body).data["product_id"] == 1729382256910270464
