"""Fulfillment error codes (shipping-apis §2.7) → the error tree → what ``ship_order`` makes of
each: the translation table, then the outcomes over a scripted client."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from creatorflow.adapters.tiktok._errors import error_for
from creatorflow.adapters.tiktok._ship import Shipper, settled
from creatorflow.errors import (
    TikTokAfterSalePending,
    TikTokAlreadyShipped,
    TikTokAuthError,
    TikTokError,
    TikTokFulfillmentRefused,
    TikTokNoShippingProviders,
    TikTokOrderCancelled,
    TikTokOrderClosed,
    TikTokOrderDelivered,
    TikTokRateLimited,
    TikTokRequestRejected,
    TikTokTrackingDuplicate,
    TikTokTrackingRejected,
    TikTokUnavailable,
    TikTokWrongFlow,
    TikTokWrongRegion,
)
from creatorflow.ports import (
    TikTokAddress,
    TikTokLineItem,
    TikTokOrder,
    TikTokPackage,
    TikTokWriteResult,
)
from creatorflow.ports.tiktok import TikTokShippingProvider
from creatorflow.runtime.testing import FakeClock

pytestmark = pytest.mark.anyio

TABLE: list[tuple[tuple[int, ...], type[TikTokError]]] = [
    ((21011006, 21011020, 21042056, 21008099, 11006021, 21011040), TikTokAlreadyShipped),
    ((21011027,), TikTokOrderDelivered),
    ((21011041, 21011042), TikTokOrderCancelled),
    ((21011007, 21008044), TikTokAfterSalePending),
    ((21011025, 21034012, 21011026), TikTokTrackingDuplicate),
    ((11028006, 21004012, 21004015, 21004016, 21022032), TikTokTrackingRejected),
    ((21011048, 21008025, 21011004, 21011043), TikTokWrongFlow),
    ((21008106,), TikTokWrongRegion),
    ((21011049, 21011050, 21011051, 21011052), TikTokFulfillmentRefused),
    ((21008116, 21008117), TikTokNoShippingProviders),
    ((21011028,), TikTokRequestRejected),
    ((36009003, 11001027, 21001003), TikTokUnavailable),
]


@pytest.mark.parametrize(
    ("code", "expected"), [(code, cls) for codes, cls in TABLE for code in codes]
)
def test_fulfillment_codes_translate(code: int, expected: type[TikTokError]) -> None:
    error = error_for(http_status=200, code=code, message="m", request_id="r")
    assert type(error) is expected
    assert error.code == code and error.request_id == "r"
    assert error.retryable is (expected is TikTokUnavailable)


def test_the_tree_groups_what_callers_branch_on() -> None:
    assert issubclass(TikTokOrderDelivered, TikTokOrderClosed)
    assert issubclass(TikTokOrderCancelled, TikTokOrderClosed)
    assert issubclass(TikTokTrackingDuplicate, TikTokTrackingRejected)
    assert issubclass(TikTokWrongRegion, TikTokWrongFlow)
    for cls in (TikTokAlreadyShipped, TikTokOrderClosed, TikTokAfterSalePending,
                TikTokTrackingRejected, TikTokWrongFlow, TikTokNoShippingProviders):  # fmt: skip
        assert issubclass(cls, TikTokFulfillmentRefused)
    # Codes outside §2.7 stay plain business refusals.
    assert type(error_for(http_status=200, code=21011002, message="m")) is TikTokError


# --------------------------------------------------------------------------- outcomes

ORDER_ID = "576000000000000001"
ZOOM = TikTokShippingProvider(id="7000000000000000213", name="Zoom")


def order(**over: object) -> TikTokOrder:
    base: dict[str, object] = {
        "id": ORDER_ID,
        "status": "AWAITING_SHIPMENT",
        "shipping_type": "SELLER",
        "delivery_option_id": "7000000000000000101",
        "packages": [TikTokPackage(id="1150000000000000001")],
        "line_items": [TikTokLineItem(id="577000000000000001")],
    }
    return TikTokOrder(**(base | over))  # type: ignore[arg-type]


def shipped(tracking: str) -> TikTokOrder:
    line = TikTokLineItem(
        id="577000000000000001", tracking_number=tracking, package_id="1150000000000000001"
    )
    return order(status="AWAITING_COLLECTION", line_items=[line], tracking_number=tracking)


class ScriptedApi:
    """A ShipperApi: the write raises ``error``; reads answer from ``reads`` (then the last)."""

    def __init__(self, error: Exception | None, reads: Sequence[TikTokOrder], region: str) -> None:
        self.error = error
        self.reads = list(reads)
        self.region = region
        self.writes: list[str] = []

    async def shop_region(self, shop_id: str) -> str:
        return self.region

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        return [self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]]

    async def get_shipping_providers(
        self, shop_id: str, delivery_option_id: str
    ) -> list[TikTokShippingProvider]:
        return [ZOOM]

    async def _write(self, what: str) -> TikTokWriteResult:
        self.writes.append(what)
        if self.error is not None:
            raise self.error
        return TikTokWriteResult(package_id="115new")

    async def mark_package_shipped(
        self, shop_id: str, order_id: str, *, tracking_number: str, shipping_provider_id: str
    ) -> TikTokWriteResult:
        return await self._write("mark")

    async def ship_package(
        self, shop_id: str, package_id: str, *, tracking_number: str, shipping_provider_id: str
    ) -> TikTokWriteResult:
        return await self._write(f"ship {package_id}")


def refusal(cls: type[TikTokError], code: int) -> TikTokError:
    return cls("refused", code=code, http_status=200)


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (refusal(TikTokAfterSalePending, 21011007), "held", "after_sale_pending"),
        (refusal(TikTokTrackingDuplicate, 21011025), "needs_attention", "tracking_duplicate"),
        (refusal(TikTokTrackingRejected, 21004016), "needs_attention", "tracking_rejected"),
        (refusal(TikTokWrongFlow, 21011048), "needs_attention", "wrong_flow"),
        (refusal(TikTokFulfillmentRefused, 21011049), "needs_attention", "refused"),
        (refusal(TikTokNoShippingProviders, 21008117), "needs_attention", "no_shipping_provider"),
        (refusal(TikTokOrderCancelled, 21011042), "cancelled", ""),
        (refusal(TikTokError, 21011002), "needs_attention", "refused"),
    ],
)
async def test_refusals_become_outcomes(error: TikTokError, kind: str, reason: str) -> None:
    api = ScriptedApi(error, [order()], "US")
    outcome = await Shipper(api, FakeClock(), _NoWait()).ship_order(
        "shop", ORDER_ID, tracking_number="ZX1", carrier_name="zoom"
    )
    assert (outcome.kind, outcome.reason, outcome.code) == (kind, reason, error.code)
    assert api.writes == ["mark"]  # refused: never written twice


@pytest.mark.parametrize(
    ("error", "after", "kind"),
    [
        (refusal(TikTokAlreadyShipped, 21011040), shipped("ZX1"), "already_shipped"),
        (refusal(TikTokOrderDelivered, 21011027), shipped("zx1 "), "already_shipped"),
        (refusal(TikTokOrderDelivered, 21011027), shipped("OTHER"), "needs_attention"),
        (refusal(TikTokAlreadyShipped, 21011006), order(), "needs_attention"),
    ],
)
async def test_already_shipped_or_delivered_is_decided_by_a_re_read(
    error: TikTokError, after: TikTokOrder, kind: str
) -> None:
    api = ScriptedApi(error, [order(), after], "GB")
    outcome = await Shipper(api, FakeClock(), _NoWait()).ship_order(
        "shop", ORDER_ID, tracking_number="ZX1", carrier_name="zoom"
    )
    assert outcome.kind == kind
    if kind == "needs_attention":
        assert outcome.reason == "shipped_with_other_tracking" and outcome.code == error.code
    else:
        assert outcome.package_id == "1150000000000000001"


@pytest.mark.parametrize(
    "error",
    [
        TikTokAuthError("no token", code=105001),
        TikTokRequestRejected("cipher", code=21011028),
        TikTokRateLimited("slow down", code=36009002),
    ],
)
async def test_configuration_and_throttling_errors_propagate(error: TikTokError) -> None:
    api = ScriptedApi(error, [order()], "US")
    with pytest.raises(type(error)):
        await Shipper(api, FakeClock(), _NoWait()).ship_order(
            "shop", ORDER_ID, tracking_number="ZX1", carrier_name="zoom"
        )


async def test_region_picks_the_call_and_unknown_region_uses_the_address() -> None:
    for region, address, expected in [
        ("US", "", "mark"), ("gb", "", "mark"), ("JP", "", "mark"), ("ID", "", "ship"),
        ("MX", "", "ship"), ("", "TH", "ship"), ("", "DE", "mark"), ("", "", "mark"),
    ]:  # fmt: skip
        to = TikTokAddress(region_code=address)
        api = ScriptedApi(None, [order(recipient_address=to)], region)
        outcome = await Shipper(api, FakeClock(), _NoWait()).ship_order(
            "shop", ORDER_ID, tracking_number="ZX1", carrier_name="zoom"
        )
        assert api.writes[0].split()[0] == expected, (region, address)
        assert outcome.kind == "shipped"
        assert outcome.package_id == ("115new" if expected == "mark" else "1150000000000000001")


async def test_ship_package_needs_exactly_one_package() -> None:
    for packages, reason in [([], "no_package"), (["1", "2"], "wrong_flow")]:
        listed = [TikTokPackage(id=p) for p in packages]
        api = ScriptedApi(None, [order(packages=listed)], "VN")
        outcome = await Shipper(api, FakeClock(), _NoWait()).ship_order(
            "shop", ORDER_ID, tracking_number="ZX1", carrier_name="zoom"
        )
        assert (outcome.kind, outcome.reason) == ("needs_attention", reason)
        assert api.writes == []


@pytest.mark.parametrize(
    ("fields", "kind", "reason"),
    [
        ({"status": "CANCELLED"}, "cancelled", ""),
        ({"status": "UNPAID"}, "held", "not_awaiting_shipment"),
        ({"is_buyer_request_cancel": True}, "held", "after_sale_pending"),
        ({"shipping_type": "TIKTOK"}, "needs_attention", "wrong_flow"),
        ({"status": "IN_TRANSIT"}, "needs_attention", "shipped_with_other_tracking"),
        ({"status": "SOMETHING_NEW"}, "needs_attention", "refused"),
    ],
)
def test_settled_reads_the_order(fields: dict[str, object], kind: str, reason: str) -> None:
    outcome = settled(order(**fields), "ZX1")
    assert outcome is not None and (outcome.kind, outcome.reason) == (kind, reason)
    assert settled(order(), "ZX1") is None
    assert settled(order(status="PARTIALLY_SHIPPING"), "ZX1") is None


class _NoWait:
    def delay(self, attempt: int) -> float:
        return 0.0
