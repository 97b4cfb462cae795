"""HttpSupplier against the in-process sandbox supplier: idempotency, errors, retries, breaker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from supplier_fakes import START_S, drive, open_supplier, sandbox, settings

from creatorflow.adapters.suppliers import HttpSupplier, HttpSupplierSettings
from creatorflow.errors import CircuitOpen, SupplierError
from creatorflow.ports import Supplier, SupplierOrder
from creatorflow.runtime import BreakerState
from creatorflow.runtime.testing import FakeClock
from creatorflow.sandbox.supplier import SupplierFaultConfig

pytestmark = pytest.mark.anyio

START_MS = START_S * 1000


def state(supplier: HttpSupplier) -> BreakerState:
    return supplier.breaker.state


def faults(**plan: object) -> SupplierFaultConfig:
    return SupplierFaultConfig(**plan)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the happy path


async def test_place_returns_the_accepted_order_sent_with_its_idempotency_key() -> None:
    app = sandbox()
    async with open_supplier(app) as supplier:
        order = await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=40)
    assert order == SupplierOrder(
        po_id="po-1",
        supplier_ref="SR-3-000001",
        sku="MUG-RED",
        qty=40,
        state="accepted",
        expected_at_ms=START_MS + 300_000,
    )
    assert [(c["method"], c["idempotency_key"], c["status"]) for c in app.calls] == [
        ("POST", "po-1", 201)
    ]


async def test_placing_again_returns_the_same_order_and_the_sandbox_holds_one() -> None:
    app = sandbox()
    async with open_supplier(app) as supplier:
        first = await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=40)
        again = await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=40)
    assert again == first
    assert len(app.book) == 1
    assert [c["status"] for c in app.calls] == [201, 200]


async def test_get_order_and_an_unknown_po_is_none() -> None:
    app = sandbox()
    async with open_supplier(app) as supplier:
        placed = await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=40)
        assert await supplier.get_order("po-1") == placed
        assert await supplier.get_order("po-unknown") is None
    assert supplier.breaker.state is BreakerState.CLOSED


async def test_lifecycle_follows_the_sandbox_clock_to_delivered() -> None:
    app = sandbox(confirm_after_s=10, transit_s=60, sku_lead_time_s={"SLOW": 3600.0})
    async with open_supplier(app) as supplier:
        await supplier.place_order(po_id="po-1", sku="SLOW", qty=12)
        seen = []
        for step_s in (0, 10, 3600 - 60 - 10, 60):
            app.advance(step_s)
            order = await supplier.get_order("po-1")
            assert order is not None
            seen.append((order.state, order.delivered_qty))
    assert seen == [("accepted", 0), ("confirmed", 0), ("shipped", 0), ("delivered", 12)]
    assert order is not None and order.expected_at_ms == START_MS + 3_600_000


async def test_the_adapter_is_the_port() -> None:
    async with open_supplier(sandbox(), lead_time_s=1234.0) as supplier:
        port: Supplier = supplier
        assert (port.supplier_id, port.lead_time_s) == ("acme", 1234.0)
        assert "acme" in repr(supplier)


# ------------------------------------------------------------------ refusals (never retried)


async def test_a_wrong_api_key_is_a_401_refusal_sent_once() -> None:
    app = sandbox()
    clock = FakeClock()
    async with open_supplier(app, clock=clock, api_key="wrong") as supplier:
        with pytest.raises(SupplierError) as info:
            await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=1)
    assert (info.value.retryable, info.value.status) == (False, 401)
    assert "unauthorized" in str(info.value)
    assert len(app.calls) == 1 and len(app.book) == 0 and clock.now() == 0
    assert supplier.breaker.state is BreakerState.CLOSED


async def test_a_rejected_sku_gives_a_rejected_order() -> None:
    app = sandbox(reject_skus=frozenset({"GONE"}))
    async with open_supplier(app) as supplier:
        order = await supplier.place_order(po_id="po-1", sku="GONE", qty=5)
    assert (order.state, order.expected_at_ms, order.delivered_qty) == ("rejected", 0, 0)
    assert order.reason


async def test_the_same_po_id_with_another_quantity_is_a_conflict() -> None:
    app = sandbox()
    async with open_supplier(app) as supplier:
        await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=40)
        with pytest.raises(SupplierError) as info:
            await supplier.place_order(po_id="po-1", sku="MUG-RED", qty=41)
    assert (info.value.retryable, info.value.status) == (False, 409)
    assert len(app.book) == 1 and app.book.get("po-1").qty == 40  # type: ignore[union-attr]


async def test_an_sku_outside_the_catalog_is_refused() -> None:
    app = sandbox(catalog=frozenset({"MUG-RED"}))
    async with open_supplier(app) as supplier:
        with pytest.raises(SupplierError) as info:
            await supplier.place_order(po_id="po-1", sku="TEE-S", qty=1)
    assert (info.value.retryable, info.value.status) == (False, 422)
    assert "unknown_sku" in str(info.value)


async def test_bad_arguments_raise_value_error_and_send_nothing() -> None:
    app = sandbox()
    async with open_supplier(app) as supplier:
        for po_id, sku, qty in (("", "A", 1), ("pö", "A", 1), ("po", "", 1), ("po", "A", 0)):
            with pytest.raises(ValueError, match="place_order"):
                await supplier.place_order(po_id=po_id, sku=sku, qty=qty)
        with pytest.raises(ValueError, match="get_order"):
            await supplier.get_order("")
    assert not app.calls


# ------------------------------------------------------------------ retries, same key


async def test_5xx_then_success_resends_the_same_key_and_makes_one_order() -> None:
    app, clock = sandbox(faults=faults(burst_500=2)), FakeClock()
    async with open_supplier(app, clock=clock) as supplier:
        order = await drive(clock, lambda: supplier.place_order(po_id="po-1", sku="A", qty=3))
    assert order.state == "accepted"
    assert [(c["idempotency_key"], c["status"]) for c in app.calls] == [
        ("po-1", 500),
        ("po-1", 500),
        ("po-1", 201),
    ]
    assert len(app.book) == 1
    assert clock.now() == 0.5 + 1.0  # backoff 0.5 s · 2^n, jitter off


async def test_created_but_answer_lost_then_retry_gives_exactly_one_order() -> None:
    app, clock = sandbox(faults=faults(lost_responses=1)), FakeClock()
    async with open_supplier(app, clock=clock) as supplier:
        order = await drive(clock, lambda: supplier.place_order(po_id="po-1", sku="A", qty=3))
    # The first POST created the order but its answer was a 500; the retry got it back.
    assert [(c["status"], c["lost"]) for c in app.calls] == [(201, True), (200, False)]
    assert len(app.book) == 1
    assert order.supplier_ref == "SR-3-000001"


async def test_a_timeout_after_the_supplier_applied_the_order_is_retried() -> None:
    app, clock = sandbox(), FakeClock()
    inner = httpx.ASGITransport(app=app)
    timeouts = [True]

    class LosesFirstAnswer(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            if timeouts and timeouts.pop():
                await response.aclose()
                raise httpx.ReadTimeout("read timed out", request=request)
            return response

    async with open_supplier(transport=LosesFirstAnswer(), clock=clock) as supplier:
        order = await drive(clock, lambda: supplier.place_order(po_id="po-9", sku="A", qty=2))
    assert order.po_id == "po-9"
    assert [c["status"] for c in app.calls] == [201, 200]
    assert len(app.book) == 1


async def test_429_waits_for_retry_after() -> None:
    app, clock = sandbox(faults=faults(burst_429=1, retry_after_s=7)), FakeClock()
    async with open_supplier(app, clock=clock) as supplier:
        await drive(clock, lambda: supplier.place_order(po_id="po-1", sku="A", qty=3))
    assert clock.now() == 7.0  # backoff alone would be 0.5 s
    assert [c["status"] for c in app.calls] == [429, 201]
    assert supplier.breaker.state is BreakerState.CLOSED


async def test_retry_after_is_capped() -> None:
    app, clock = sandbox(faults=faults(burst_429=1, retry_after_s=3600)), FakeClock()
    async with open_supplier(app, clock=clock, retry_max_wait_s=30.0) as supplier:
        await drive(clock, lambda: supplier.get_order("po-1"))
    assert clock.now() == 30.0


async def test_connection_errors_are_retryable_with_status_0_and_chained() -> None:
    clock = FakeClock()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    transport = httpx.MockTransport(refuse)
    async with open_supplier(transport=transport, clock=clock, max_attempts=3) as supplier:
        with pytest.raises(SupplierError) as info:
            await drive(clock, lambda: supplier.get_order("po-1"))
    assert (info.value.retryable, info.value.status) == (True, 0)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert clock.now() == 0.5 + 1.0


@pytest.mark.parametrize(
    ("body", "retryable"),
    [
        (b"<html>bad gateway</html>", True),  # a proxy in the way: try again
        (b'{"po_id": "po-1", "state": "lost"}', False),  # JSON, but not an order
        (
            b'{"po_id": "other", "supplier_ref": "r", "sku": "A", "qty": 1, "state": "accepted"}',
            False,
        ),
    ],
)
async def test_unreadable_answers_raise_supplier_error(body: bytes, retryable: bool) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with open_supplier(transport=transport, max_attempts=1) as supplier:
        with pytest.raises(SupplierError) as info:
            await supplier.get_order("po-1")
    assert (info.value.retryable, info.value.status) == (retryable, 200)


# ------------------------------------------------------------------ circuit breaker


async def test_breaker_opens_after_repeated_failures_then_a_probe_closes_it() -> None:
    app, clock = sandbox(faults=faults(outage_s=600)), FakeClock()
    over: dict[str, Any] = {"max_attempts": 3, "breaker_failures": 3, "breaker_open_s": 60.0}
    async with open_supplier(app, clock=clock, **over) as supplier:
        with pytest.raises(SupplierError) as info:
            await drive(clock, lambda: supplier.place_order(po_id="po-1", sku="A", qty=1))
        assert (info.value.retryable, info.value.status) == (True, 503)
        assert state(supplier) is BreakerState.OPEN
        assert len(app.calls) == 3

        with pytest.raises(CircuitOpen) as refused:
            await supplier.place_order(po_id="po-1", sku="A", qty=1)
        assert refused.value.retry_after_s == 60.0
        assert len(app.calls) == 3  # a dead supplier is not hammered

        clock.advance(60)
        app.advance(600)  # the outage is over
        order = await supplier.place_order(po_id="po-1", sku="A", qty=1)
    assert order.state == "accepted" and state(supplier) is BreakerState.CLOSED
    assert len(app.book) == 1


async def test_refusals_do_not_open_the_breaker() -> None:
    app = sandbox()
    async with open_supplier(app, api_key="wrong", breaker_failures=2) as supplier:
        for _ in range(4):
            with pytest.raises(SupplierError):
                await supplier.get_order("po-1")
    assert supplier.breaker.state is BreakerState.CLOSED


async def test_breaker_changes_are_reported() -> None:
    changes: list[tuple[str, BreakerState]] = []
    clock = FakeClock()
    transport = httpx.MockTransport(lambda request: httpx.Response(502))
    supplier = HttpSupplier(
        settings(max_attempts=1, breaker_failures=1),
        transport=transport,
        clock=clock,
        on_breaker_change=lambda name, state: changes.append((name, state)),
    )
    async with supplier:
        with pytest.raises(SupplierError, match="HTTP 502"):
            await supplier.get_order("po-1")
    assert changes == [("supplier/acme", BreakerState.OPEN)]


# ------------------------------------------------------------------ settings


def test_settings_validate_and_hide_the_key() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        settings(max_attempts=0)
    with pytest.raises(ValueError, match="required"):
        settings(base_url="")
    with pytest.raises(ValueError, match="timeout_s"):
        settings(timeout_s=0)
    assert "test-supplier-key" not in repr(settings())
    defaults = HttpSupplierSettings(supplier_id="s", base_url="http://x", api_key="k")
    assert (defaults.max_attempts, defaults.timeout_s, defaults.breaker_open_s) == (5, 10.0, 60.0)
