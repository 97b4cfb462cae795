"""Carrier pool: rate shopping, one breaker and one concurrency limit per carrier, failover,
labels bought exactly once; the single writer of shipments.

Inbox:   BuyLabel | VoidLabel | MarkShipped (asked by the label step) | TrackingSeen (told
         by the tracking poller and the carrier push endpoint) | GetCarriers (asked by the API)
Replies: LabelOutcome | VoidOutcome | None | list[CarrierView]
State:   a breaker, a concurrency limit and call statistics per carrier (bounded: at most
         ``MAX_CARRIERS``); the orders with work in flight (bounded by ``max_in_flight``)
Restart: permanent; the shipments are durable, and a purchase interrupted by the crash is
         looked up at the gateway by its request id before anything else is bought
Full:    the label step and the poller wait (backpressure); the API asks with a deadline

**Exactly one label per order.** Every purchase attempt is committed (``purchasing``, its
attempt number and ``request_id = {order_id}.{attempt}``) *before* the gateway is called, and
the same id is sent on the create and on the purchase. After a lost reply (a timeout, a 5xx,
a crash) the shipment is looked up by that id first: a bought one is adopted, never bought
again. A draft found after a lost purchase is not bought at once (the gateway checks the state
without a lock: the lost purchase may still run); the attempt is abandoned and the round
continues with the next attempt id after ``call_timeout_s``, when a lookup settles it.

**Selection and failover.** A round rates every carrier whose breaker is not open, ranks the
rates with ``domain.shipping.selection`` (HIGH: fastest; others: cheapest within the delivery
promise; the seller's rules first), and buys the first; a failed purchase records a failure
on that carrier's breaker (3 in a row open it for 30 s, then one probe) and goes on down the
list, at most ``max_tries`` rates. A round that buys nothing leaves the shipment
``awaiting_label`` with a retry time (backoff): the poller requeues the order then.

One order's work (buy, void, ship, tracking) runs one at a time, in a background task of its
own; different orders run concurrently up to ``max_in_flight``, and each carrier takes at most
``max_per_carrier`` calls at once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final, TypeVar

import anyio
import msgspec

from creatorflow.actors.shipping.messages import (
    MAX_ATTEMPTS_KEPT,
    MAX_EVENTS_KEPT,
    Attempt,
    BuyLabel,
    CarrierPoolMsg,
    CarrierView,
    GetCarriers,
    LabelOutcome,
    MarkShipped,
    ShipmentDoc,
    TrackingSeen,
    VoidLabel,
    VoidOutcome,
)
from creatorflow.actors.store_writer import Write
from creatorflow.domain.shipping import Rate, Shipment, TrackingStatus
from creatorflow.domain.shipping.selection import select_rates
from creatorflow.errors import (
    AdapterError,
    CarrierError,
    CarrierNotFound,
    CarrierStateError,
    CarrierUnavailable,
    CircuitOpen,
    CreatorFlowError,
    MailboxFull,
)
from creatorflow.ports import AppendOutbox, Clock, WriteOp
from creatorflow.ports.shipments import LabelRow, PutLabel, PutShipment, ShipmentReader, ShipmentRow
from creatorflow.ports.shipping import CarrierGateway
from creatorflow.runtime import (
    Actor,
    ActorRef,
    BreakerState,
    CircuitBreaker,
    Envelope,
    MonotonicClock,
    Permit,
)

log = logging.getLogger("creatorflow.shipping")

T = TypeVar("T")

#: Distinct carriers tracked (breakers, statistics); more are served without a breaker.
MAX_CARRIERS: Final = 256
#: Requests for one order waiting behind the one in flight (more are refused: MailboxFull).
PER_ORDER_QUEUE: Final = 64
#: Latencies remembered per carrier for the p50 / p99 shown by the API.
LATENCY_WINDOW: Final = 256

_LABELED_OR_LATER: Final = frozenset({"labeled", "shipped", "in_transit", "delivered", "exception"})
#: Tracker statuses → (shipment state, order event name or None).
_TRACKING: Final[dict[TrackingStatus, tuple[str, str | None]]] = {
    TrackingStatus.PENDING: ("shipped", None),
    TrackingStatus.UNKNOWN: ("shipped", None),
    TrackingStatus.PICKED_UP: ("in_transit", "transit"),
    TrackingStatus.IN_TRANSIT: ("in_transit", "transit"),
    TrackingStatus.OUT_FOR_DELIVERY: ("in_transit", "transit"),
    TrackingStatus.READY_FOR_PICKUP: ("in_transit", "transit"),
    TrackingStatus.ON_HOLD: ("in_transit", "transit"),
    TrackingStatus.DELIVERY_DELAYED: ("in_transit", "transit"),
    TrackingStatus.DELIVERED: ("delivered", "deliver"),
    TrackingStatus.DELIVERY_FAILED: ("exception", "flag"),
    TrackingStatus.RETURN_TO_SENDER: ("exception", "flag"),
    TrackingStatus.CANCELLED: ("exception", "flag"),
}

_ENCODE = msgspec.json.Encoder().encode
_DOC = msgspec.json.Decoder(ShipmentDoc)

#: Called with (carrier, outcome, seconds) after each gateway call (metrics).
CallObserver = Callable[[str, str, float], None]
#: Tells the order scheduler to move an order: (order id, event name, why).
OrderMover = Callable[[str, str, str], None]


class CarrierPoolSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The pool's policies (``[shipping]`` in the config; defaults are the seed's)."""

    breaker_failures: int = 3
    breaker_open_s: float = 30.0
    max_per_carrier: int = 8
    max_in_flight: int = 64
    max_tries: int = 3
    call_timeout_s: float = 10.0
    retry_min_s: float = 5.0
    retry_max_s: float = 300.0
    void_max_attempts: int = 5
    track_first_s: float = 60.0
    track_max_s: float = 21_600.0


class _Carrier:
    """One carrier's breaker, concurrency limit and call statistics."""

    def __init__(self, name: str, settings: CarrierPoolSettings, timer: MonotonicClock,
                 on_breaker: Callable[[str, BreakerState], None] | None) -> None:  # fmt: skip
        self.breaker = CircuitBreaker(
            f"carrier:{name}",
            clock=timer,
            failure_threshold=settings.breaker_failures,
            min_calls=max(settings.breaker_failures, 1),
            window=max(settings.breaker_failures * 4, 4),
            open_s=settings.breaker_open_s,
            on_state_change=on_breaker,
        )
        self.slots = anyio.Semaphore(settings.max_per_carrier)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.outcomes: deque[bool] = deque(maxlen=LATENCY_WINDOW)
        self.labels = 0

    def view(self, name: str) -> CarrierView:
        states = {0: "closed", 1: "open", 2: "half_open"}
        ordered = sorted(self.latencies)
        failures = sum(1 for ok in self.outcomes if not ok)

        def quantile(q: float) -> float:
            return 0.0 if not ordered else round(ordered[int(q * (len(ordered) - 1))] * 1000, 1)

        return CarrierView(
            name=name,
            breaker=states[int(self.breaker.state)],  # type: ignore[arg-type]
            error_rate=round(failures / len(self.outcomes), 4) if self.outcomes else 0.0,
            latency_ms={"p50": quantile(0.5), "p99": quantile(0.99)},
            labels=self.labels,
        )


class CarrierPool(Actor[CarrierPoolMsg]):
    """See the module docstring."""

    max_batch = 256

    def __init__(
        self,
        *,
        gateway: CarrierGateway,
        writer: ActorRef[Write],
        shipments: ShipmentReader,
        clock: Clock,
        timer: MonotonicClock,
        settings: CarrierPoolSettings | None = None,
        move_order: OrderMover | None = None,
        on_call: CallObserver | None = None,
        on_breaker: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self._gateway = gateway
        self._writer = writer
        self._shipments = shipments
        self._clock = clock
        self._timer = timer
        settings = settings or CarrierPoolSettings()
        self._settings = settings
        self._move_order = move_order
        self._on_call = on_call
        self._on_breaker = on_breaker
        self._carriers: dict[str, _Carrier] = {}
        self._slots = anyio.Semaphore(settings.max_in_flight)
        # Orders with work in flight, and the work waiting behind it (one at a time per order).
        self._busy: dict[str, deque[Envelope[CarrierPoolMsg]]] = {}

    # ------------------------------------------------------------------ messages

    async def handle_batch(self, batch: list[Envelope[CarrierPoolMsg]]) -> None:
        for env in batch:
            msg = env.msg
            if isinstance(msg, GetCarriers):
                env.reply([c.view(name) for name, c in sorted(self._carriers.items())])
                continue
            order_id = msg.order_id
            queued = self._busy.get(order_id)
            if queued is not None:
                if len(queued) >= PER_ORDER_QUEUE:
                    env.fail(MailboxFull(f"carrier pool: order {order_id}"))
                    continue
                queued.append(env)  # runs after the work in flight for this order
                continue
            await self._slots.acquire()  # bounded work in flight: backpressure on the mailbox
            self._busy[order_id] = deque(maxlen=PER_ORDER_QUEUE)
            try:
                self.start_background(self._run_order, order_id, env)
            except BaseException:
                self._busy.pop(order_id, None)
                self._slots.release()
                raise

    async def _run_order(self, order_id: str, env: Envelope[CarrierPoolMsg]) -> None:
        """Run ``env`` then whatever queued behind it for the same order."""
        try:
            while True:
                await self._one(env)
                waiting = self._busy.get(order_id)
                if not waiting:
                    return
                env = waiting.popleft()
        finally:
            for left in self._busy.pop(order_id, ()):
                left.fail(CarrierUnavailable("carrier pool stopped before this request ran"))
            self._slots.release()

    async def _one(self, env: Envelope[CarrierPoolMsg]) -> None:
        msg = env.msg
        try:
            match msg:
                case BuyLabel():
                    env.reply(await self._buy(msg))
                case VoidLabel():
                    env.reply(await self._void(msg.order_id))
                case MarkShipped():
                    await self._mark_shipped(msg)
                    env.reply(None)
                case TrackingSeen():
                    await self._tracking(msg)
                    env.reply(None)
                case GetCarriers():  # answered in handle_batch
                    env.reply([])
        except CreatorFlowError as exc:
            log.warning("carrier pool: order %s: %s", msg.order_id, exc)  # type: ignore[union-attr]
            env.fail(exc)

    # ------------------------------------------------------------------ buying

    async def _buy(self, msg: BuyLabel) -> LabelOutcome:
        row = await self._shipments.get_shipment(msg.order_id)
        if row is not None and row.state in _LABELED_OR_LATER:
            return _outcome(row)
        doc = ShipmentDoc() if row is None else _DOC.decode(row.doc)
        attempt = 0 if row is None else row.attempt
        if row is not None and row.state == "purchasing" and row.request_id:
            adopted = await self._adopt(msg, row, doc)
            if adopted is not None:
                return adopted
        request = msgspec.structs.replace(msg.request, carrier_ids=(), services=())
        # Open breakers whose time is not up; one that is up lets its probe through.
        unavailable = [n for n, c in self._carriers.items() if c.breaker.retry_after_s() > 0]
        try:
            quote = await self._call("*", lambda: self._gateway.rate(request))
        except CarrierError as exc:
            for name, _ in getattr(exc, "failures", ()):
                self._record(name, ok=False)
            return await self._wait(msg, doc, attempt, f"rating failed: {exc}")
        for failure in quote.failures:
            if failure.carrier:
                self._record(failure.carrier, ok=False)
        selection = select_rates(
            quote.rates,
            level=msg.level,
            promise_days=msg.promise_days,
            preferences=msg.preferences,
            unavailable=unavailable,
        )
        doc = msgspec.structs.replace(doc, selection=selection.why)
        errors: list[str] = []
        for rate in selection.ranked[: self._settings.max_tries]:
            attempt += 1
            outcome = await self._try(msg, rate, attempt, doc, errors)
            if isinstance(outcome, LabelOutcome):
                return outcome
            doc = outcome
        why = "; ".join(errors) or "; ".join(selection.why) or "no rate"
        return await self._wait(msg, doc, attempt, why)

    async def _try(
        self, msg: BuyLabel, rate: Rate, attempt: int, doc: ShipmentDoc, errors: list[str]
    ) -> LabelOutcome | ShipmentDoc:
        """One attempt at ``rate``: the label, or the document with the failed attempt."""
        carrier = self._carrier(rate.carrier)
        permit: Permit | None = None
        if carrier is not None:
            try:
                permit = carrier.breaker.allow()
            except CircuitOpen as exc:
                errors.append(f"{rate.carrier}: {exc}")
                return doc
        request_id = f"{msg.order_id}.{attempt}"
        started = Attempt(
            attempt=attempt,
            request_id=request_id,
            carrier=rate.carrier,
            service=rate.service,
            outcome="started",
            at_ms=self._clock.now_ms(),
        )
        doc = _with_attempt(doc, started)
        # Durable before the gateway hears of it: a crash from here on is looked up by this id.
        await self._put(msg, "purchasing", attempt, request_id, rate, doc, next_check=None)
        began = self._timer.now()
        try:
            shipment = await self._purchase(msg, rate, request_id, carrier)
        except CarrierError as exc:
            if carrier is not None and permit is not None:
                if isinstance(exc, CarrierStateError):
                    carrier.breaker.record_ignored(permit)
                else:
                    carrier.breaker.record_failure(permit)
            found = await self._settle(request_id) if _maybe_applied(exc) else None
            if found is not None:
                return await self._labeled(msg, found, attempt, request_id, doc, "adopted", began)
            errors.append(f"{rate.carrier} {rate.service}: {exc}")
            failed = msgspec.structs.replace(
                started, outcome="failed", error=str(exc)[:300], latency_ms=self._ms_since(began)
            )
            return _with_attempt(doc, failed)
        if carrier is not None and permit is not None:
            carrier.breaker.record_success(permit)
        return await self._labeled(msg, shipment, attempt, request_id, doc, "labeled", began)

    async def _purchase(
        self, msg: BuyLabel, rate: Rate, request_id: str, carrier: _Carrier | None
    ) -> Shipment:
        """Create a draft at ``rate``'s carrier and buy its label at the same service."""
        request = msgspec.structs.replace(
            msg.request, carrier_ids=(rate.carrier_id,), services=(rate.service,)
        )

        async def create() -> Shipment:
            return await self._gateway.create_shipment(
                request, request_id=request_id, reference=msg.order_id
            )

        async def buy(draft: Shipment) -> Shipment:
            match = [r for r in draft.rates if r.service == rate.service]
            if not match:
                raise CarrierNotFound(f"the draft has no {rate.service} rate", carrier=rate.carrier)
            return await self._gateway.purchase(
                draft.shipment_id,
                match[0].rate_id,
                request_id=request_id,
                label_type=msg.request.label_type,
            )

        if carrier is None:
            draft = await self._call(rate.carrier, create)
            return await self._call(rate.carrier, lambda: buy(draft))
        async with carrier.slots:
            draft = await self._call(rate.carrier, create)
            return await self._call(rate.carrier, lambda: buy(draft))

    async def _adopt(
        self, msg: BuyLabel, row: ShipmentRow, doc: ShipmentDoc
    ) -> LabelOutcome | None:
        """An attempt was interrupted (a crash, a deadline): adopt its label if it was bought.

        A purchase whose reply was lost may still run at the gateway (it checks the state
        without a lock), so an attempt younger than ``call_timeout_s`` is given the rest of
        that time before the lookup that decides whether anything was bought.
        """
        age_s = (self._clock.now_ms() - row.updated_at_ms) / 1000
        if age_s < self._settings.call_timeout_s:
            await self._timer.sleep(self._settings.call_timeout_s - max(age_s, 0.0))
        found = await self._lookup(row.request_id)
        if found is None:
            return None
        rate_carrier = found.carrier or row.carrier
        log.info(
            "order %s: adopting the label of interrupted attempt %s", msg.order_id, row.attempt
        )
        began = self._timer.now()
        shipment = msgspec.structs.replace(found, carrier=rate_carrier)
        return await self._labeled(
            msg, shipment, row.attempt, row.request_id, doc, "adopted", began
        )

    async def _settle(self, request_id: str) -> Shipment | None:
        """After a lost reply: the bought shipment of ``request_id``, looked up at once and,
        when not found, again once the gateway's in-flight purchase must have ended."""
        found = await self._lookup(request_id)
        if found is None:
            await self._timer.sleep(self._settings.call_timeout_s)
            found = await self._lookup(request_id)
        return found

    async def _lookup(self, request_id: str) -> Shipment | None:
        """The bought shipment of ``request_id`` at the gateway, with its label, or None."""
        try:
            found = await self._call("*", lambda: self._gateway.find_by_request_id(request_id))
        except CarrierError as exc:
            # Unknown whether it was bought: keep the attempt open (raised to the asker, the
            # next round looks again before buying anything).
            raise CarrierUnavailable(f"lookup of {request_id} failed: {exc}") from exc
        for shipment in found:
            if shipment.status.labelled:
                if shipment.label is None:
                    label = await self._call(
                        shipment.carrier, partial(self._gateway.label, shipment.shipment_id)
                    )
                    shipment = msgspec.structs.replace(shipment, label=label)
                return shipment
        return None

    async def _labeled(
        self,
        msg: BuyLabel,
        shipment: Shipment,
        attempt: int,
        request_id: str,
        doc: ShipmentDoc,
        how: str,
        began: float,
    ) -> LabelOutcome:
        done = Attempt(
            attempt=attempt,
            request_id=request_id,
            carrier=shipment.carrier,
            service=shipment.service,
            outcome="adopted" if how == "adopted" else "labeled",
            latency_ms=self._ms_since(began),
            at_ms=self._clock.now_ms(),
        )
        doc = msgspec.structs.replace(
            _with_attempt(doc, done),
            cost=shipment.cost,
            transit_days=shipment.transit_days,
            label_type=shipment.label_type,
            last_error="",
        )
        now = self._clock.now_ms()
        row = ShipmentRow(
            order_id=msg.order_id,
            shop_id=msg.shop_id,
            state="labeled",
            attempt=attempt,
            request_id=request_id,
            carrier=shipment.carrier,
            service=shipment.service,
            shipment_id=shipment.shipment_id,
            tracking_number=shipment.tracking_number,
            updated_at_ms=now,
            doc=_ENCODE(doc),
        )
        ops: list[WriteOp] = [PutShipment(row=row)]
        if shipment.label is not None:
            ops.append(
                PutLabel(
                    label=LabelRow(
                        order_id=msg.order_id,
                        shipment_id=shipment.shipment_id,
                        label_type=shipment.label.label_type,
                        data=shipment.label.data,
                        created_at_ms=now,
                    )
                )
            )
        await self._writer.ask(Write(ops=tuple(ops)))
        carrier = self._carrier(shipment.carrier)
        if carrier is not None:
            carrier.labels += 1
        return _outcome(row)

    async def _wait(self, msg: BuyLabel, doc: ShipmentDoc, attempt: int, why: str) -> LabelOutcome:
        """No label this round: ``awaiting_label``, retried after a backoff."""
        rounds = doc.label_failures + 1
        delay_s = min(
            self._settings.retry_min_s * 2 ** min(rounds - 1, 20), self._settings.retry_max_s
        )
        doc = msgspec.structs.replace(doc, label_failures=rounds, last_error=why[:500])
        next_check = self._clock.now_ms() + int(delay_s * 1000)
        request_id = f"{msg.order_id}.{attempt}" if attempt else ""
        await self._put(msg, "awaiting_label", attempt, request_id, None, doc, next_check)
        log.warning("order %s: no label yet (retry in %.0f s): %s", msg.order_id, delay_s, why)
        return LabelOutcome(state="awaiting_label", why=why)

    async def _put(
        self,
        msg: BuyLabel,
        state: Any,
        attempt: int,
        request_id: str,
        rate: Rate | None,
        doc: ShipmentDoc,
        next_check: int | None,
    ) -> None:
        row = ShipmentRow(
            order_id=msg.order_id,
            shop_id=msg.shop_id,
            state=state,
            attempt=attempt,
            request_id=request_id,
            carrier="" if rate is None else rate.carrier,
            service="" if rate is None else rate.service,
            next_check_at_ms=next_check,
            updated_at_ms=self._clock.now_ms(),
            doc=_ENCODE(doc),
        )
        await self._writer.ask(Write(ops=(PutShipment(row=row),)))

    # ------------------------------------------------------------------ void, ship, track

    async def _void(self, order_id: str) -> VoidOutcome:
        row = await self._shipments.get_shipment(order_id)
        if row is None or row.state in ("voided", "awaiting_label") or not row.shipment_id:
            return VoidOutcome(state="none", why="no label to void")
        if row.state == "void_failed":
            return VoidOutcome(state="void_failed", why="gave up earlier")
        if row.state not in ("labeled", "purchasing"):
            return VoidOutcome(state="none", why=f"the parcel is {row.state}: too late to void")
        doc = _DOC.decode(row.doc)
        try:
            await self._call(row.carrier, lambda: self._gateway.cancel(row.shipment_id))
        except CarrierError as exc:
            failures = doc.void_failures + 1
            doc = msgspec.structs.replace(doc, void_failures=failures, last_error=str(exc)[:500])
            gave_up = failures >= self._settings.void_max_attempts
            state = "void_failed" if gave_up else row.state
            ops: list[WriteOp] = [PutShipment(row=self._updated(row, state, doc))]
            if gave_up:
                ops.append(self._exception(row, f"void failed {failures} times: {exc}"))
                log.error(
                    "order %s: label %s could not be voided: %s", order_id, row.shipment_id, exc
                )
            await self._writer.ask(Write(ops=tuple(ops)))
            return VoidOutcome(state="void_failed" if gave_up else "retry", why=str(exc))
        await self._writer.ask(Write(ops=(PutShipment(row=self._updated(row, "voided", doc)),)))
        return VoidOutcome(state="voided")

    async def _mark_shipped(self, msg: MarkShipped) -> None:
        row = await self._shipments.get_shipment(msg.order_id)
        if row is None or row.state != "labeled":
            return
        doc = msgspec.structs.replace(_DOC.decode(row.doc), package_id=msg.package_id)
        first = self._clock.now_ms() + int(self._settings.track_first_s * 1000)
        row = msgspec.structs.replace(self._updated(row, "shipped", doc), next_check_at_ms=first)
        await self._writer.ask(Write(ops=(PutShipment(row=row),)))

    async def _tracking(self, msg: TrackingSeen) -> None:
        row = await self._shipments.get_shipment(msg.order_id)
        if row is None or row.state not in ("shipped", "in_transit", "labeled"):
            return
        tracker = msg.tracker
        state, event = _TRACKING.get(tracker.status, ("in_transit", "transit"))
        if state == "shipped":
            if row.state == "labeled":
                return  # nothing moved yet, and TikTok has not been told
            state = row.state  # no news: a parcel in transit stays in transit
        doc = _DOC.decode(row.doc)
        events = tracker.events[-MAX_EVENTS_KEPT:] if tracker.events else doc.tracking_events
        doc = msgspec.structs.replace(doc, tracking_events=events)
        now = self._clock.now_ms()
        next_check: int | None = None
        if state in ("shipped", "in_transit"):
            age_ms = max(0, now - row.updated_at_ms)
            wait_s = min(
                max(self._settings.track_first_s, age_ms / 4000), self._settings.track_max_s
            )
            next_check = now + int(wait_s * 1000)
        changed = row.tracking_status != str(tracker.status) or row.state != state
        updated = msgspec.structs.replace(
            self._updated(row, state, doc),
            tracking_status=str(tracker.status),
            next_check_at_ms=next_check,
        )
        ops: list[WriteOp] = [PutShipment(row=updated)]
        if changed and state == "exception":
            ops.append(self._exception(row, f"tracking says {tracker.status}"))
        await self._writer.ask(Write(ops=tuple(ops)))
        if changed and event is not None and self._move_order is not None:
            self._move_order(msg.order_id, event, f"carrier {row.carrier}: {tracker.status}")

    # ------------------------------------------------------------------ helpers

    def _updated(self, row: ShipmentRow, state: Any, doc: ShipmentDoc) -> ShipmentRow:
        return msgspec.structs.replace(
            row, state=state, doc=_ENCODE(doc), updated_at_ms=self._clock.now_ms()
        )

    def _exception(self, row: ShipmentRow, why: str) -> AppendOutbox:
        now = self._clock.now_ms()
        payload = {"order_id": row.order_id, "carrier": row.carrier, "reason": why[:500],
                   "tracking_number": row.tracking_number}  # fmt: skip
        return AppendOutbox(
            event_id=f"shipment.exception:{row.order_id}:{now}:{row.attempt}",
            topic="shipment.exception",
            key=row.order_id,
            payload=_ENCODE(payload),
            created_at_ms=now,
        )

    def _carrier(self, name: str) -> _Carrier | None:
        if not name or name == "*":
            return None
        carrier = self._carriers.get(name)
        if carrier is None and len(self._carriers) < MAX_CARRIERS:
            carrier = _Carrier(name, self._settings, self._timer, self._on_breaker)
            self._carriers[name] = carrier
        return carrier

    def _record(self, name: str, *, ok: bool) -> None:
        carrier = self._carrier(name)
        if carrier is None:
            return
        carrier.outcomes.append(ok)
        if not ok:
            try:
                permit = carrier.breaker.allow()
            except CircuitOpen:
                return
            carrier.breaker.record_failure(permit)

    async def _call(self, carrier: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One gateway call under ``call_timeout_s``; timed and counted per carrier."""
        began = self._timer.now()
        outcome = "error"
        try:
            with anyio.fail_after(self._settings.call_timeout_s):
                result = await fn()
            outcome = "ok"
            return result
        except TimeoutError:
            outcome = "timeout"
            raise CarrierUnavailable(
                f"no answer in {self._settings.call_timeout_s} s", carrier=carrier
            ) from None
        except AdapterError:
            raise
        finally:
            elapsed = self._timer.now() - began
            stats = self._carrier(carrier)
            if stats is not None:
                stats.latencies.append(elapsed)
                if outcome != "ok" or carrier != "*":
                    stats.outcomes.append(outcome == "ok")
            if self._on_call is not None:
                self._on_call(carrier, outcome, elapsed)

    def _ms_since(self, began: float) -> int:
        return int((self._timer.now() - began) * 1000)


def _with_attempt(doc: ShipmentDoc, attempt: Attempt) -> ShipmentDoc:
    kept = [a for a in doc.attempts if a.attempt != attempt.attempt]
    kept.append(attempt)
    return msgspec.structs.replace(doc, attempts=tuple(kept[-MAX_ATTEMPTS_KEPT:]))


def _maybe_applied(exc: CarrierError) -> bool:
    """Whether a failed call may have bought something (look it up before going on)."""
    if isinstance(exc, CarrierStateError):
        return True  # "bought already": find it
    return bool(getattr(exc, "maybe_applied", False))


def _outcome(row: ShipmentRow) -> LabelOutcome:
    return LabelOutcome(
        state=row.state,
        carrier=row.carrier,
        service=row.service,
        tracking_number=row.tracking_number,
    )


__all__ = ["CarrierPool", "CarrierPoolSettings"]
