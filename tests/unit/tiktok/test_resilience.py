"""Retries, Retry-After, idempotency, circuit breaker, rate limiter and metrics hooks."""

from __future__ import annotations

import httpx
import pytest
from tiktok_fakes import SHOP_ID, FakeTikTok, drive, envelope, open_fake_client

from creatorflow.adapters.tiktok import CallObserved
from creatorflow.errors import (
    CircuitOpen,
    TikTokRateLimited,
    TikTokRequestRejected,
    TikTokUnavailable,
)
from creatorflow.runtime import BreakerState
from creatorflow.runtime.testing import FakeClock

pytestmark = pytest.mark.anyio

ORDERS = "/order/202309/orders"
SHIP = "/fulfillment/202309/packages/1/ship"


def fail_503() -> httpx.Response:
    return envelope(code=36009003, message="internal error", status=503)


async def test_429_is_retried_after_retry_after() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(
        ORDERS,
        envelope(code=36009002, message="slow down", status=429, headers={"Retry-After": "7"}),
    )
    async with open_fake_client(fake, clock=clock) as client:
        orders = await drive(clock, lambda: client.get_orders(SHOP_ID, ["1"]))
    assert [o.id for o in orders] == ["1"]
    assert len(fake.api_requests(ORDERS)) == 2
    assert clock.now() == 7.0  # backoff would be 1 s; the server asked for 7


async def test_rate_limit_code_in_a_200_is_retried_with_backoff_then_gives_up() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(ORDERS, *[envelope(code=36009002, message="slow down") for _ in range(6)])
    async with open_fake_client(fake, clock=clock) as client:
        with pytest.raises(TikTokRateLimited) as info:
            await drive(clock, lambda: client.get_orders(SHOP_ID, ["1"]))
    assert info.value.retryable and info.value.code == 36009002
    assert len(fake.api_requests(ORDERS)) == 6  # 1 + max_retries (5)
    assert clock.now() == 1 + 2 + 4 + 8 + 16  # 1 s * 2^n (jitter pinned to 0)


async def test_retry_after_is_capped() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(ORDERS, envelope(code=36009002, status=429, headers={"Retry-After": "3600"}))
    async with open_fake_client(fake, clock=clock, retry_max_wait_s=30.0) as client:
        await drive(clock, lambda: client.get_orders(SHOP_ID, ["1"]))
    assert clock.now() == 30.0


async def test_rate_limited_writes_are_retried_since_nothing_was_processed() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(SHIP, envelope(code=36009002, status=429))
    async with open_fake_client(fake, clock=clock) as client:
        assert (await drive(clock, lambda: client.ship_package(SHOP_ID, "1"))).ok
    assert len(fake.api_requests(SHIP)) == 2


async def test_5xx_is_retried_for_reads() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(ORDERS, fail_503(), httpx.Response(502, content=b"<html>bad gateway</html>"))
    async with open_fake_client(fake, clock=clock) as client:
        await drive(clock, lambda: client.get_orders(SHOP_ID, ["1"]))
    assert len(fake.api_requests(ORDERS)) == 3
    assert clock.now() == 1 + 2


async def test_5xx_and_timeouts_are_not_retried_for_writes() -> None:
    fake, clock = FakeTikTok(), FakeClock()

    async def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.script(SHIP, fail_503(), read_timeout)
    async with open_fake_client(fake, clock=clock) as client:
        with pytest.raises(TikTokUnavailable) as first:
            await drive(clock, lambda: client.ship_package(SHOP_ID, "1"))
        with pytest.raises(TikTokUnavailable) as second:
            await drive(clock, lambda: client.ship_package(SHOP_ID, "1"))
    assert first.value.http_status == 503 and first.value.maybe_applied
    assert isinstance(second.value.__cause__, httpx.ReadTimeout) and second.value.maybe_applied
    assert len(fake.api_requests(SHIP)) == 2  # one each, no retry
    assert clock.now() == 0


async def test_writes_are_retried_with_an_idempotency_guarantee() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(SHIP, fail_503(), fail_503())
    async with open_fake_client(fake, clock=clock) as client:
        result = await drive(clock, lambda: client.ship_package(SHOP_ID, "1", idempotent=True))
    assert result.ok and len(fake.api_requests(SHIP)) == 3


async def test_a_connection_that_never_opened_is_retried_even_for_writes() -> None:
    fake, clock = FakeTikTok(), FakeClock()

    async def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake.script(SHIP, refused)
    async with open_fake_client(fake, clock=clock) as client:
        assert (await drive(clock, lambda: client.ship_package(SHOP_ID, "1"))).ok
    assert len(fake.api_requests(SHIP)) == 2


async def test_bad_sign_is_a_bug_and_not_retried() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    async with open_fake_client(fake, clock=clock, app_secret="wrong") as client:
        with pytest.raises(TikTokRequestRejected) as info:
            await drive(clock, lambda: client.get_authorized_shops(SHOP_ID))
    assert info.value.code == 106001 and not info.value.retryable
    assert len(fake.api_requests()) == 1


async def test_breaker_opens_after_5_failures_then_one_probe_decides() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    states: list[tuple[str, BreakerState]] = []
    calls: list[CallObserved] = []
    fake.script(ORDERS, *[fail_503() for _ in range(5)])
    async with open_fake_client(
        fake,
        clock=clock,
        max_retries=0,
        observer=calls.append,
        on_breaker_change=lambda name, state: states.append((name, state)),
    ) as client:
        await client.get_authorized_shops(SHOP_ID)
        for _ in range(5):
            with pytest.raises(TikTokUnavailable):
                await client.get_orders(SHOP_ID, ["1"])
        with pytest.raises(CircuitOpen) as info:
            await client.get_orders(SHOP_ID, ["1"])
        assert info.value.retry_after_s == 60.0
        assert len(fake.api_requests(ORDERS)) == 5  # refused without calling
        await client.get_delivery_options(SHOP_ID, "7")  # another API group is unaffected

        clock.advance(59.0)
        with pytest.raises(CircuitOpen):
            await client.get_orders(SHOP_ID, ["1"])
        clock.advance(1.0)
        fake.script(ORDERS, fail_503())  # the probe fails: open again for 60 s
        with pytest.raises(TikTokUnavailable):
            await client.get_orders(SHOP_ID, ["1"])
        with pytest.raises(CircuitOpen):
            await client.get_orders(SHOP_ID, ["1"])

        clock.advance(60.0)
        await client.get_orders(SHOP_ID, ["1"])  # the probe succeeds: closed
        await client.get_orders(SHOP_ID, ["1"])
    key = f"{SHOP_ID}/order"
    assert states == [
        (key, BreakerState.OPEN),
        (key, BreakerState.HALF_OPEN),
        (key, BreakerState.OPEN),
        (key, BreakerState.HALF_OPEN),
        (key, BreakerState.CLOSED),
    ]
    assert len(fake.api_requests(ORDERS)) == 8
    outcomes = [c.outcome for c in calls if c.api == "get_orders"]
    assert outcomes == ["unavailable"] * 5 + ["circuit_open"] * 2 + ["unavailable"] + [
        "circuit_open",
        "ok",
        "ok",
    ]
    assert calls[1].code == 36009003 and calls[1].http_status == 503


async def test_rate_limited_and_rejected_answers_do_not_open_the_breaker() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    fake.script(ORDERS, *[envelope(code=36009002, status=429) for _ in range(6)])
    fake.script(ORDERS, *[envelope(code=36009004, message="bad", status=400) for _ in range(6)])
    async with open_fake_client(fake, clock=clock, max_retries=0) as client:
        for _ in range(6):
            with pytest.raises(TikTokRateLimited):
                await client.get_orders(SHOP_ID, ["1"])
        for _ in range(6):
            with pytest.raises(TikTokRequestRejected):
                await client.get_orders(SHOP_ID, ["1"])
        await client.get_orders(SHOP_ID, ["1"])


async def test_limiter_paces_calls_per_shop() -> None:
    fake, clock = FakeTikTok(), FakeClock()
    async with open_fake_client(fake, clock=clock, rate_per_s=5.0, burst=10) as client:
        await client.get_authorized_shops(SHOP_ID)  # the authorization group's own bucket

        async def twenty() -> None:
            for _ in range(20):
                await client.get_orders(SHOP_ID, ["1"])

        await drive(clock, twenty)
    assert clock.now() == pytest.approx((20 - 10) / 5.0)
    assert len(fake.api_requests(ORDERS)) == 20
