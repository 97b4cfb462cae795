"""Telling TikTok an order shipped: the client's ``ship_order`` and ``get_shipping_providers``
against the sandbox TikTok Shop (in-process, signed like real calls)."""

from __future__ import annotations

import httpx
import pytest
from tiktok_fakes import drive
from tiktok_sandbox import (
    MUG,
    SHOP,
    TimeoutOnce,
    Wall,
    api_calls,
    make_sandbox,
    open_sandbox_client,
)

from creatorflow.adapters.tiktok._ship import match_provider
from creatorflow.errors import (
    TikTokAlreadyShipped,
    TikTokNoShippingProviders,
    TikTokOrderCancelled,
    TikTokUnavailable,
)
from creatorflow.ports.tiktok import TikTokShippingProvider
from creatorflow.runtime.testing import FakeClock
from creatorflow.sandbox._tiktok_order import DELIVERY_OPTIONS
from creatorflow.sandbox._tiktok_shipping import PLATFORM_OPTION_ID, PROVIDERS

pytestmark = pytest.mark.anyio

STANDARD = DELIVERY_OPTIONS["STANDARD"][0]
EXPRESS = DELIVERY_OPTIONS["EXPRESS"][0]
ZOOM = next(p.id for p in PROVIDERS if p.name == "Zoom")
TERRA = next(p.id for p in PROVIDERS if p.name == "Terra")
PROVIDERS_PATH = "/shipping_providers"
MARK = "/packages"  # POST /fulfillment/202309/orders/{id}/packages


def _is_mark(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/packages")


# --------------------------------------------------------------------------- providers


async def test_providers_are_listed_and_cached_per_shop_and_option() -> None:
    wall, clock = Wall(), FakeClock()
    app = make_sandbox(wall)
    async with open_sandbox_client(app, wall, clock=clock, providers_ttl_s=60.0) as client:
        first = await client.get_shipping_providers(SHOP, STANDARD)
        again = await client.get_shipping_providers(SHOP, STANDARD)
        assert len(api_calls(app, "GET", PROVIDERS_PATH)) == 1  # the second came from the cache
        await client.get_shipping_providers(SHOP, EXPRESS)
        assert len(api_calls(app, "GET", PROVIDERS_PATH)) == 2  # another option, another call
        clock.advance(61.0)
        await client.get_shipping_providers(SHOP, STANDARD)
        assert len(api_calls(app, "GET", PROVIDERS_PATH)) == 3  # expired
    names = [p.name for p in first]
    assert names == ["USPS", "UPS", "FedEx", "Terra", "Swift", "Zoom"]
    assert first == again and all(p.id for p in first)


async def test_provider_cache_is_bounded() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    async with open_sandbox_client(app, wall, max_provider_lists=1) as client:
        await client.get_shipping_providers(SHOP, STANDARD)
        await client.get_shipping_providers(SHOP, EXPRESS)  # pushes STANDARD out
        await client.get_shipping_providers(SHOP, STANDARD)
    assert len(api_calls(app, "GET", PROVIDERS_PATH)) == 3


@pytest.mark.parametrize(
    ("option", "code", "words"),
    [("7000000000000000999", 21008116, "no shipping provider subscription"),
     (PLATFORM_OPTION_ID, 21008117, "fulfilled by TikTok")],
)  # fmt: skip
async def test_provider_refusals_are_clear_errors_and_not_cached(
    option: str, code: int, words: str
) -> None:
    wall = Wall()
    app = make_sandbox(wall)
    async with open_sandbox_client(app, wall) as client:
        for _ in range(2):
            with pytest.raises(TikTokNoShippingProviders, match=words) as info:
                await client.get_shipping_providers(SHOP, option)
            assert info.value.code == code and option in str(info.value)
            assert not info.value.retryable
    assert len(api_calls(app, "GET", PROVIDERS_PATH)) == 2


def _providers(*names: str) -> list[TikTokShippingProvider]:
    return [TikTokShippingProvider(id=str(i), name=name) for i, name in enumerate(names)]


@pytest.mark.parametrize(
    ("carrier", "expected", "fallback"),
    [
        ("terra", "Terra", False),
        ("ZOOM", "Zoom", False),
        ("swift-sandbox", "Swift", False),  # Karrio carrier id: the provider name it starts with
        ("Swift Parcel", "Swift", False),
        ("usps", "USPS", False),
        ("fedex_express", "FedEx", False),
        ("canadapost", "Canada Post", False),  # punctuation and spaces do not count
        ("dhl_express", "DHL", False),  # the longest provider name it starts with
        ("ups", "UPS", False),  # equal beats "UPS Mail Innovations"
        ("royal", "Royal Mail", False),  # the one provider starting with it
        ("acme", "Other", True),  # nothing fits: TikTok's catch-all
    ],
)
def test_carrier_names_map_to_providers(carrier: str, expected: str, fallback: bool) -> None:
    providers = _providers(
        "USPS", "UPS", "UPS Mail Innovations", "FedEx", "Terra", "Swift", "Zoom",
        "Canada Post", "DHL", "D", "Royal Mail", "Other",
    )  # fmt: skip
    provider, used_fallback = match_provider(carrier, providers)
    assert provider is not None and provider.name == expected
    assert used_fallback is fallback


def test_no_provider_fits_without_a_catch_all() -> None:
    assert match_provider("acme", _providers("USPS", "UPS")) == (None, False)
    assert match_provider("", _providers("USPS")) == (None, False)
    # Two providers start with the carrier's name: ambiguous, so no match.
    assert match_provider("dhl", _providers("DHL eCommerce", "DHL Express")) == (None, False)


# --------------------------------------------------------------------------- shipping


async def test_us_shop_marks_the_package_shipped() -> None:
    wall = Wall()
    app = make_sandbox(wall)  # shop_region "US"
    order_id = await app.create_order(MUG)
    package_id = app.book.require(order_id).package_id
    async with open_sandbox_client(app, wall) as client:
        outcome = await client.ship_order(
            SHOP, order_id, tracking_number="ZX0000000001", carrier_name="zoom"
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.invalid"
        ) as admin:
            view = (await admin.get(f"/sandbox/tiktok/orders/{order_id}")).json()
    assert outcome.kind == "shipped" and outcome.ok
    assert outcome.call == "mark_package_shipped"
    assert outcome.package_id == package_id and outcome.shipping_provider_id == ZOOM
    assert outcome.warning == "" and outcome.reason == ""
    marks = api_calls(app, "POST", MARK)
    assert len(marks) == 1
    assert marks[0]["body"] == {"tracking_number": "ZX0000000001", "shipping_provider_id": ZOOM}
    assert not api_calls(app, "POST", "/ship")
    assert view["status"] == "AWAITING_COLLECTION"
    assert view["packages"] == [
        {"package_id": package_id, "tracking_number": "ZX0000000001", "shipping_provider_id": ZOOM}
    ]


async def test_warning_of_a_mismatched_number_comes_back_with_the_success() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        outcome = await client.ship_order(
            SHOP, order_id, tracking_number="TG0000000001", carrier_name="zoom"
        )
    assert outcome.kind == "shipped"
    assert "does not match shipping provider Zoom" in outcome.warning


async def test_sea_shop_ships_the_existing_package_with_self_shipment() -> None:
    wall = Wall()
    app = make_sandbox(wall, shop_region="SG", currency="SGD")
    order_id = await app.create_order({**MUG, "region_code": "SG", "postal_code": "018956"})
    package_id = app.book.require(order_id).package_id
    async with open_sandbox_client(app, wall) as client:
        outcome = await client.ship_order(
            SHOP, order_id, tracking_number="TG0000000002", carrier_name="terra"
        )
    assert outcome.kind == "shipped" and outcome.call == "ship_package"
    assert outcome.package_id == package_id and outcome.shipping_provider_id == TERRA
    ships = api_calls(app, "POST", f"/packages/{package_id}/ship")
    assert len(ships) == 1
    assert ships[0]["body"]["self_shipment"] == {
        "tracking_number": "TG0000000002",
        "shipping_provider_id": TERRA,
    }
    assert not api_calls(app, "POST", MARK)
    assert app.book.require(order_id).status == "AWAITING_COLLECTION"


async def test_mark_refused_in_the_region_falls_back_to_ship_package() -> None:
    wall = Wall()
    app = make_sandbox(wall, shop_region="MY")
    order_id = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        # A caller forcing the wrong region: Mark answers 21008106, Ship Package follows.
        outcome = await client.ship_order(
            SHOP, order_id, tracking_number="SW0000000003", carrier_name="swift", region="US"
        )
    assert outcome.kind == "shipped" and outcome.call == "ship_package"
    assert [c["code"] for c in api_calls(app, "POST", MARK)] == [21008106]
    assert len(api_calls(app, "POST", "/ship")) == 1


async def test_already_shipped_by_us_succeeds_after_a_re_read() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        (stale,) = await client.get_orders(SHOP, [order_id])
        first = await client.ship_order(SHOP, stale, tracking_number="ZX1", carrier_name="zoom")
        reads_before = len(api_calls(app, "GET", "/order/202309/orders"))
        # The caller's copy predates the shipment: the write goes out, TikTok says 21011006,
        # the re-read shows our number.
        second = await client.ship_order(SHOP, stale, tracking_number="zx1", carrier_name="zoom")
        reads = len(api_calls(app, "GET", "/order/202309/orders")) - reads_before
        # By id: read first, our number is there, nothing is written.
        third = await client.ship_order(SHOP, order_id, tracking_number="ZX1", carrier_name="zoom")
    assert first.kind == "shipped"
    assert second.kind == "already_shipped" and second.ok and reads == 1
    assert second.package_id == first.package_id and second.shipping_provider_id == ZOOM
    assert third.kind == "already_shipped"
    assert [c["code"] for c in api_calls(app, "POST", MARK)] == [0, 21011006]


async def test_already_shipped_with_another_number_is_a_clear_error() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        (stale,) = await client.get_orders(SHOP, [order_id])
        await client.ship_order(SHOP, order_id, tracking_number="ZX1", carrier_name="zoom")
        outcome = await client.ship_order(SHOP, stale, tracking_number="ZX2", carrier_name="zoom")
        fresh = await client.ship_order(SHOP, order_id, tracking_number="ZX2", carrier_name="zoom")
        with pytest.raises(TikTokAlreadyShipped) as info:
            await client.mark_package_shipped(
                SHOP, order_id, tracking_number="ZX2", shipping_provider_id=ZOOM
            )
    assert outcome.kind == "needs_attention" and not outcome.ok
    assert outcome.reason == "shipped_with_other_tracking" and outcome.code == 21011006
    assert fresh.kind == "needs_attention" and fresh.reason == "shipped_with_other_tracking"
    assert "ZX1" in fresh.detail
    assert info.value.code == 21011006 and not info.value.retryable
    assert app.book.require(order_id).tracking_number == "ZX1"


async def test_cancelled_order_stops() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        (stale,) = await client.get_orders(SHOP, [order_id])
        await app.set_status(order_id, "CANCELLED")
        by_id = await client.ship_order(SHOP, order_id, tracking_number="ZX1", carrier_name="zoom")
        assert not api_calls(app, "POST", MARK)  # read first: nothing written
        by_stale = await client.ship_order(SHOP, stale, tracking_number="ZX1", carrier_name="zoom")
        with pytest.raises(TikTokOrderCancelled):
            await client.mark_package_shipped(
                SHOP, order_id, tracking_number="ZX1", shipping_provider_id=ZOOM
            )
    assert by_id.kind == "cancelled" and by_id.code == 0
    assert by_stale.kind == "cancelled" and by_stale.code == 21011041
    assert app.book.require(order_id).tracking_number == ""


async def test_duplicate_tracking_number_is_refused() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    first = await app.create_order(MUG)
    second = await app.create_order(MUG)
    async with open_sandbox_client(app, wall) as client:
        ok = await client.ship_order(SHOP, first, tracking_number="ZX7", carrier_name="zoom")
        dup = await client.ship_order(SHOP, second, tracking_number="ZX7", carrier_name="zoom")
    assert ok.kind == "shipped"
    assert dup.kind == "needs_attention" and dup.reason == "tracking_duplicate"
    assert dup.code == 21011025
    assert app.book.require(second).status == "AWAITING_SHIPMENT"


async def test_held_and_unknown_orders_ship_nothing() -> None:
    wall = Wall()
    app = make_sandbox(wall)
    on_hold = await app.create_order({**MUG, "on_hold": True, "status": "ON_HOLD"})
    async with open_sandbox_client(app, wall) as client:
        held = await client.ship_order(SHOP, on_hold, tracking_number="ZX1", carrier_name="zoom")
        missing = await client.ship_order(
            SHOP, "576999999999999999", tracking_number="ZX1", carrier_name="zoom"
        )
        nobody = await client.ship_order(
            SHOP, await app.create_order(MUG), tracking_number="ZX1", carrier_name="acme"
        )
        with pytest.raises(ValueError, match="tracking number"):
            await client.ship_order(SHOP, on_hold, tracking_number=" ", carrier_name="zoom")
    assert held.kind == "held" and held.reason == "not_awaiting_shipment"
    assert missing.kind == "needs_attention" and missing.reason == "order_not_found"
    assert nobody.kind == "needs_attention" and nobody.reason == "no_shipping_provider"
    assert "Zoom" in nobody.detail
    assert not api_calls(app, "POST", MARK)


@pytest.mark.parametrize("applied", [True, False])
async def test_timeout_re_reads_the_order_before_writing_again(applied: bool) -> None:
    wall, clock = Wall(), FakeClock()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)
    flaky: list[TimeoutOnce] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        flaky.append(TimeoutOnce(inner, _is_mark, applied=applied))
        return flaky[0]

    async with open_sandbox_client(app, wall, clock=clock, wrap=wrap) as client:
        outcome = await drive(
            clock,
            lambda: client.ship_order(SHOP, order_id, tracking_number="ZX9", carrier_name="zoom"),
        )
    assert flaky[0].timed_out == 1
    marks = api_calls(app, "POST", MARK)
    assert len(marks) == 1  # one write reached TikTok, in both cases
    assert clock.now() == 1.0  # one backoff (1 s, no jitter) before the re-read
    # Lost reply: the re-read shows our number. Never sent: the re-read shows nothing, so
    # the write goes out again.
    assert outcome.kind == ("already_shipped" if applied else "shipped")
    calls = [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in app.calls]
    calls = [c for c in calls if c[1] != "shops"]
    write, read = ("POST", "packages"), ("GET", "orders")
    after = [write, read] if applied else [read, write]
    assert calls == [read, ("GET", "shipping_providers"), *after]
    assert app.book.require(order_id).tracking_number == "ZX9"


async def test_timeouts_every_time_raise_after_the_attempts() -> None:
    wall, clock = Wall(), FakeClock()
    app = make_sandbox(wall)
    order_id = await app.create_order(MUG)

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return TimeoutOnce(inner, _is_mark, applied=False, times=10)

    async with open_sandbox_client(app, wall, clock=clock, wrap=wrap) as client:
        with pytest.raises(TikTokUnavailable) as info:
            await drive(
                clock,
                lambda: client.ship_order(
                    SHOP, order_id, tracking_number="ZX9", carrier_name="zoom", attempts=3
                ),
            )
    assert info.value.maybe_applied and info.value.retryable
    assert clock.now() == 3.0  # backoff 1 s then 2 s, each followed by a re-read
    reads = api_calls(app, "GET", "/order/202309/orders")
    assert len(reads) == 3  # the first read and one per retry
    assert not api_calls(app, "POST", MARK)
