"""The webhook route in-process: saturation, draining and store failures give 503 + Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from creatorflow.actors.ingress import IngressMsg, Receive, Received
from creatorflow.domain.webhook import AppCredentials
from creatorflow.errors import StoreUnavailable
from creatorflow.metrics import Metrics
from creatorflow.ports import SystemClock
from creatorflow.runtime import Actor, ActorRef, Envelope, Mailbox, open_actor
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.webhooks import WebhookEndpoint
from helpers import APP_KEY, APP_SECRET, signed_headers, webhook_body

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def client_for(
    ingress: ActorRef[IngressMsg],
    lifecycle: Lifecycle,
    metrics: Metrics,
    *,
    timeout_s: float = 2.5,
) -> AsyncIterator[httpx.AsyncClient]:
    endpoint = WebhookEndpoint(
        apps=[AppCredentials(app_key=APP_KEY, app_secret=APP_SECRET)],
        ingress=ingress,
        metrics=metrics,
        clock=SystemClock(),
        lifecycle=lifecycle,
        max_body_bytes=4096,
        retry_after_s=7,
        timeout_s=timeout_s,
    )

    async def ready() -> dict[str, str]:
        return {"store": "ok"}

    async def status() -> tuple[str, dict[str, object]]:
        return "ok", {"status": "ok"}

    app = CreatorFlowApp(
        webhooks=endpoint,
        metrics=metrics,
        lifecycle=lifecycle,
        readiness=ready,
        status=status,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def ready_lifecycle() -> Lifecycle:
    lifecycle = Lifecycle()
    lifecycle.ready = True
    return lifecycle


async def post(client: httpx.AsyncClient, nid: str) -> httpx.Response:
    body = webhook_body(nid)
    return await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))


async def test_full_ingress_mailbox_is_503_with_retry_after(anyio_backend: object) -> None:
    mailbox: Mailbox[IngressMsg] = Mailbox("webhook_ingress", 1)
    ingress = ActorRef(mailbox)
    ingress.tell_nowait(Receive(record=None))  # type: ignore[arg-type]  # nobody drains it
    metrics = Metrics()
    async with client_for(ingress, ready_lifecycle(), metrics) as client:
        response = await post(client, "n-full")
    mailbox.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"] == "saturated"
    assert metrics.webhooks.outcomes["saturated"] == 1
    assert mailbox.stats().rejected == 1


async def test_draining_is_503_and_not_ready(anyio_backend: object) -> None:
    lifecycle = ready_lifecycle()
    lifecycle.draining = True
    ingress: ActorRef[IngressMsg] = ActorRef(Mailbox("webhook_ingress", 8))
    async with client_for(ingress, lifecycle, Metrics()) as client:
        response = await post(client, "n-drain")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "draining"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["tree"] == "draining"
    assert ingress.mailbox.depth == 0  # nothing was admitted
    ingress.mailbox.close()


class FailingIngress(Actor[IngressMsg]):
    async def handle(self, env: Envelope[IngressMsg]) -> None:
        env.fail(StoreUnavailable("database is down"))


class AcceptingIngress(Actor[IngressMsg]):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, env: Envelope[IngressMsg]) -> None:
        assert isinstance(env.msg, Receive)
        self.seen.append(env.msg.record.notification_id)
        env.reply(Received(new=True))


async def test_store_down_is_503_not_200(anyio_backend: object) -> None:
    async with (
        open_actor(FailingIngress(), "webhook_ingress", 8) as ingress,
        client_for(ingress, ready_lifecycle(), Metrics()) as client,
    ):
        response = await post(client, "n-down")
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert "database is down" in response.json()["detail"]


async def test_in_flight_is_counted_until_answered(anyio_backend: object) -> None:
    actor = AcceptingIngress()
    lifecycle = ready_lifecycle()
    metrics = Metrics()
    async with (
        open_actor(actor, "webhook_ingress", 8) as ingress,
        client_for(ingress, lifecycle, metrics) as client,
    ):
        response = await post(client, "n-ok")
        assert response.status_code == 200
        assert response.headers["content-length"] == "0"
        assert lifecycle.in_flight == 0
        await lifecycle.wait_idle()  # returns at once when idle
    assert actor.seen == ["n-ok"]
    assert metrics.webhooks.outcomes["accepted"] == 1
    text = metrics.render().decode()
    assert "creatorflow_webhook_latency_seconds_count 1.0" in text


class SilentIngress(Actor[IngressMsg]):
    """Takes every webhook and never answers: a commit that hangs."""

    def __init__(self) -> None:
        self.held: list[Envelope[IngressMsg]] = []

    async def handle(self, env: Envelope[IngressMsg]) -> None:
        self.held.append(env)


async def test_not_stored_in_time_is_503_and_a_late_answer_is_ignored(
    anyio_backend: object,
) -> None:
    actor = SilentIngress()
    lifecycle = ready_lifecycle()
    metrics = Metrics()
    async with (
        open_actor(actor, "webhook_ingress", 8) as ingress,
        client_for(ingress, lifecycle, metrics, timeout_s=0.01) as client,
    ):
        response = await post(client, "n-slow")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "timeout"
        assert lifecycle.in_flight == 0
        # The commit lands after all: first answer wins, nothing raises or hangs.
        [env] = actor.held
        env.reply(Received(new=True))
        env.fail(StoreUnavailable("too late"))
        assert env.answered
    assert metrics.webhooks.outcomes["timeout"] == 1
