"""Hostile webhooks (issue 10, items 1, 4 and 6): each reproduction, answered as specified.

Signed with the service's own app (as anyone could with the built-in sandbox's public
secret): the signature is no defence, the bounds at the edge are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store.sqlite import open_sqlite_store
from creatorflow.app import Service
from creatorflow.domain.limits import MAX_ID_CHARS, MAX_JSON_DEPTH
from creatorflow.errors import StoreError
from creatorflow.ports import InboxRecord, InsertInbox
from creatorflow.runtime import open_actor
from helpers import API, signed_headers, webhook_body

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


def envelope(**fields: Any) -> bytes:
    doc: dict[str, Any] = {"type": 1, "tts_notification_id": "n-1", "timestamp": 1, "data": {}}
    doc.update(fields)
    return msgspec.json.encode(doc)


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))


async def alive(client: httpx.AsyncClient, service: Service) -> None:
    """The service still takes webhooks and no actor was restarted."""
    body = webhook_body("alive-check", type_=99)
    assert (await post(client, body)).status_code == 200
    assert (await client.get("/healthz")).status_code == 200
    metrics = (await client.get("/metrics")).text
    restarts = [
        line
        for line in metrics.splitlines()
        if line.startswith("creatorflow_supervisor_restarts_total{") and not line.endswith(" 0.0")
    ]
    assert restarts == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"type": 18446744073709551616}, "$.type"),  # the reported poison
        ({"type": 2**63}, "$.type"),
        ({"type": -1}, "$.type"),
        ({"timestamp": 2**64}, "$.timestamp"),
        ({"timestamp": -5}, "$.timestamp"),
        ({"tts_notification_id": "x" * (MAX_ID_CHARS + 1)}, "$.tts_notification_id"),
        ({"tts_notification_id": "a\x00b"}, "$.tts_notification_id"),
        ({"shop_id": "s" * 1000}, "$.shop_id"),
        ({"seller_open_id": "\x1b[31m"}, "$.seller_open_id"),
    ],
)
async def test_out_of_range_envelopes_are_400_naming_the_field(
    service: Service, client: httpx.AsyncClient, fields: dict[str, Any], where: str
) -> None:
    body = envelope(**fields)
    response = await post(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_envelope"
    assert where in response.json()["detail"]
    await alive(client, service)


async def test_seven_poison_webhooks_do_not_stop_the_service(
    service: Service, client: httpx.AsyncClient
) -> None:
    # The report: seven of these (signed) crashed the store writer past its restart intensity,
    # and failed legitimate webhooks committed in the same group.
    for i in range(7):
        poison = envelope(type=18446744073709551616, tts_notification_id=f"poison-{i}")
        assert (await post(client, poison)).status_code == 400
        good = webhook_body(f"good-{i}")
        assert (await post(client, good)).status_code == 200
    for i in range(7):
        status = await client.get(f"/api/webhooks/good-{i}", headers=API)
        assert status.status_code == 200
        assert (await client.get(f"/api/webhooks/poison-{i}", headers=API)).status_code == 404
    await alive(client, service)


@pytest.mark.parametrize("size", [MAX_ID_CHARS + 1, 1_000_000 // 2])
async def test_long_notification_ids_are_refused_and_cost_nothing(
    service: Service, client: httpx.AsyncClient, size: int
) -> None:
    body = envelope(tts_notification_id="n" * size)
    response = await post(client, body)
    assert response.status_code == 400
    assert "$.tts_notification_id" in response.json()["detail"]
    assert "128" in response.json()["detail"]
    await alive(client, service)


async def test_an_id_of_exactly_the_limit_is_stored(
    service: Service, client: httpx.AsyncClient
) -> None:
    nid = "7" * MAX_ID_CHARS
    assert (await post(client, webhook_body(nid))).status_code == 200
    assert (await client.get(f"/api/webhooks/{nid}", headers=API)).status_code == 200


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 10_000, 500_000])  # 500k: a 1 MB body
async def test_deeply_nested_data_is_400_not_500(
    service: Service, client: httpx.AsyncClient, depth: int
) -> None:
    nested = b"[" * depth + b"]" * depth
    body = b'{"type":2,"tts_notification_id":"deep","timestamp":1,"data":{"a":' + nested + b"}}"
    response = await post(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "too_deep"
    # Unclosed openings are refused the same way (a decoder would recurse through them).
    body = b'{"type":2,"tts_notification_id":"deep","timestamp":1,"data":{"a":' + b"[" * depth
    response = await post(client, body)
    assert response.status_code == 400
    await alive(client, service)


async def test_nesting_within_the_bound_is_accepted(
    service: Service, client: httpx.AsyncClient
) -> None:
    # The envelope and ``data`` take two levels; the rest may nest up to the bound.
    inner = MAX_JSON_DEPTH - 2
    nested = b"[" * inner + b"]" * inner
    body = b'{"type":2,"tts_notification_id":"ok-deep","timestamp":1,"data":{"a":' + nested + b"}}"
    assert (await post(client, body)).status_code == 200


async def test_a_value_the_store_cannot_bind_fails_alone(tmp_path: Path) -> None:
    # The net under the edge: were an unbindable value to reach the store writer, it fails its
    # own write (StoreError) and its batch-mates commit; the writer never crashes.
    def record(nid: str, type_: int) -> InboxRecord:
        return InboxRecord(
            notification_id=nid, type=type_, shop_id="s", received_at_ms=1, body=b"{}"
        )

    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 64) as writer,
    ):
        for round_ in range(10):  # far past any restart intensity, were it crashing
            replies = [
                await writer.request(Write(ops=(InsertInbox(record=record(f"g{round_}-{i}", 1)),)))
                for i in range(3)
            ]
            bad = await writer.request(
                Write(ops=(InsertInbox(record=record(f"p{round_}", 2**64)),))
            )
            surrogate = await writer.request(
                Write(ops=(InsertInbox(record=record(f"s{round_}\ud800", 1)),))
            )
            for reply in replies:
                assert await reply.wait() == [True]
            with pytest.raises(StoreError):
                await bad.wait()
            with pytest.raises(StoreError):
                await surrogate.wait()
        assert await store.get_inbox("g9-2") is not None
        assert await store.get_inbox("p9") is None


def test_the_envelope_types_bound_every_integer_and_string() -> None:
    # Every integer of the envelope and of ORDER_STATUS_CHANGE data is bounded (schema check,
    # so a new unbounded field fails here).
    from creatorflow.domain.webhook import OrderStatusChange, WebhookEnvelope

    for struct in (WebhookEnvelope, OrderStatusChange):
        schema = msgspec.json.schema(struct)
        props = schema["$defs"][struct.__name__]["properties"]
        for name, prop in props.items():
            options = prop.get("anyOf", [prop])
            for option in options:
                if option.get("type") == "integer":
                    assert "maximum" in option and "minimum" in option, (struct, name)
                if option.get("type") == "string":
                    assert "maxLength" in option, (struct, name)
