"""Order scheduler: the single writer of orders. Follows TikTok, classifies, runs saga steps.

Inbox:   Observe (a snapshot read from the TikTok API; asked by order sync and the reconciler:
         answered once the order is durable, or with the error: StoreUnavailable, DomainError
         for an order that cannot be read)
         | Command (asked by the API: hold / release / retry one order)
         | Advance (told by this actor's own saga steps: the moves a step decided)
         | Requeue (told: run the saga again for these orders, e.g. stock arrived)
Replies: Command → :class:`CommandResult`; InvalidTransition or KeyError as errors
State:   a bounded LRU of (state, TikTok update_time) per order, rebuilt from the store on a
         miss (this actor is the only writer of orders, so the cache cannot go stale); the
         HIGH / STANDARD / LOW saga queues with aging (domain/scheduling.py)
Restart: permanent; the queues are lost on a crash, but every order's state is durable and the
         next snapshot (webhook or reconciler) requeues it
Full:    order sync and the reconciler wait to enqueue (they slow down); the API ``ask``s

A snapshot older than the stored one (``update_time``) is ignored; an equal one is a no-op. A
new order is classified (rules + priority) at once; every transition is validated by the state
machine, journaled, and its event (``order.created`` / ``order.updated``) written to the outbox
in the same transaction as the order row (one ``Write`` per order, so a refused one fails alone).

Saga: after a change is durable, the order is queued by priority; the queue is served by the
:class:`SagaStep` objects given at construction, in order, with at most ``max_steps_in_flight``
orders in their steps at once and never one order twice at once (a change that arrives while
an order's steps run queues it again when they finish). A step does its side effects (reserve
stock, buy a label) and returns the moves it wants (``RESERVE``, ``BACKORDER`` …); the scheduler
applies them as an :class:`Advance` message, like any change: validated from the state the step
saw (a stale advance is dropped), journaled, with its ``order.updated`` event. Steps run again
whenever the order changes, so a step must be idempotent. A step that fails (store down, an
actor timing out) is run again after ``step_retry_s``. On start, orders left in ``classified``,
``backordered``, ``reserved`` or ``on_hold`` (a crash mid-step) are queued again, and every
``requeue_interval_s`` the loop walks on through ``classified`` and ``backordered`` (stock that
arrived while their SKU actor was asleep), a page at a time, resuming where it stopped. Both
loops sleep on ``timer`` (a monotonic clock: tests drive it with a fake); saga aging reads the
wall ``clock``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import anyio
import msgspec

from creatorflow.actors.store_writer import Write
from creatorflow.domain.automation import Decision, RuleSet
from creatorflow.domain.classify import classify
from creatorflow.domain.limits import is_valid_id
from creatorflow.domain.order import DeliveryType, Order, order_from_tiktok
from creatorflow.domain.priority import Priority, PriorityContext, PriorityLevel, PrioritySettings
from creatorflow.domain.scheduling import AgingQueues
from creatorflow.domain.state_machine import (
    FINAL_STATES,
    OrderEvent,
    OrderState,
    can_transition,
    transition,
)
from creatorflow.domain.tiktok_status import Freshness, map_tiktok_status, snapshot_freshness
from creatorflow.errors import AdapterError, DomainError, InvalidTransition, StoreError
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    Clock,
    OrderReader,
    TikTokOrder,
    UpsertOrder,
    WriteOp,
)
from creatorflow.runtime import (
    Actor,
    ActorRef,
    Envelope,
    KeyedLru,
    MonotonicClock,
    Reply,
    SystemMonotonicClock,
)
from creatorflow.telemetry.logging import bound

log = logging.getLogger("creatorflow.orders")

Source = Literal["webhook", "reconcile", "operator"]


class Observe(msgspec.Struct, frozen=True, kw_only=True, tag="observe"):
    """A snapshot of one order as the TikTok API returned it (told)."""

    shop_id: str
    order: TikTokOrder
    source: Source = "webhook"


class Command(msgspec.Struct, frozen=True, kw_only=True, tag="command"):
    """An operator's action on one order (asked). Reply: :class:`CommandResult`."""

    order_id: str
    action: Literal["hold", "release", "retry"]
    reason: str = ""


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    state: str


class Advance(msgspec.Struct, frozen=True, kw_only=True, tag="advance"):
    """Moves a saga step decided for an order it saw in ``from_state`` at TikTok's
    ``update_time`` (told). Dropped when the order changed since."""

    order_id: str
    from_state: str
    update_time: int
    moves: tuple[tuple[OrderEvent, str], ...]


class Requeue(msgspec.Struct, frozen=True, kw_only=True, tag="requeue"):
    """Run the saga again for these orders (told); ``boost`` serves them as HIGH."""

    order_ids: tuple[str, ...]
    boost: bool = False


class ShipmentMoved(msgspec.Struct, frozen=True, kw_only=True, tag="shipment_moved"):
    """The carrier says where the parcel is (told by the carrier pool): ``event`` is
    ``transit``, ``deliver`` or ``flag`` (a failed delivery). Applied when the state machine
    allows it from the order's current state, else ignored (TikTok may have said it first)."""

    order_id: str
    event: OrderEvent
    why: str


SchedulerMsg = Observe | Command | Advance | Requeue | ShipmentMoved

#: Topics of the events announcing a shipping milestone (besides ``order.updated``).
_MILESTONES: dict[OrderState, str] = {
    OrderState.LABELED: "order.labeled",
    OrderState.SHIPPED: "order.shipped",
    OrderState.DELIVERED: "order.delivered",
}

#: A saga step's decision: ``(event, why)`` moves, applied in order.
Moves = Sequence[tuple[OrderEvent, str]]


class Unreadable(msgspec.Struct, frozen=True, kw_only=True):
    """Why the last snapshot of a parked order could not be read, and the snapshot itself."""

    reason: str
    document: msgspec.Raw  # the order as the TikTok API returned it (its known fields)


class OrderDoc(msgspec.Struct, frozen=True, kw_only=True):
    """The order document stored with each order row (what ``GET /api/orders/{id}`` shows).

    ``unreadable`` is set while the order is parked in ``needs_attention`` because its latest
    snapshot could not be read (``order`` is then the last readable one, or a placeholder with
    no lines for an order never read); the next readable snapshot clears it and sends the order
    through the saga again.
    """

    order: Order
    priority: Priority
    decision: Decision
    unreadable: Unreadable | None = None


class SagaStep(Protocol):
    """One step of the per-order saga (reservation, label …). Must be idempotent.

    Returns the moves the order should make (empty: none); later steps of the same run see
    the order as it was, the moves are applied after the last step.
    """

    name: str

    async def run(self, order_id: str, doc: OrderDoc, state: OrderState) -> Moves: ...


_ENCODE = msgspec.json.Encoder().encode
_DOC = msgspec.json.Decoder(OrderDoc)

_MAX_REASON = 500
_PARKED = "unreadable order: waits for an operator"

#: ``(internal state, TikTok update_time, TikTok status)`` of an order, as last written.
Known = tuple[OrderState, int, str]


class OrderScheduler(Actor[SchedulerMsg]):
    """See the module docstring."""

    max_batch = 256

    def __init__(
        self,
        *,
        writer: ActorRef[Write],
        orders: OrderReader,
        clock: Clock,
        rules: RuleSet,
        settings: PrioritySettings,
        delivery_types: Callable[[str], dict[str, DeliveryType]] = lambda shop: {},
        steps: Sequence[SagaStep] = (),
        cache_size: int = 100_000,
        queue_capacity: int = 10_000,
        aging_s: float = 60.0,
        max_steps_in_flight: int = 8,
        on_transition: Callable[[str, str], None] | None = None,
        viral_skus: Callable[[], frozenset[str]] = frozenset,
        self_ref: Callable[[], ActorRef[SchedulerMsg]] | None = None,
        requeue_interval_s: float = 60.0,
        requeue_batch: int = 500,
        step_retry_s: float = 5.0,
        timer: MonotonicClock | None = None,
    ) -> None:
        self._writer = writer
        self._timer: MonotonicClock = timer if timer is not None else SystemMonotonicClock()
        self._orders = orders
        self._clock = clock
        self._rules = rules
        self._settings = settings
        self._delivery_types = delivery_types
        self._steps = tuple(steps)
        self._known: KeyedLru[str, Known] = KeyedLru(cache_size)
        self._buyers: KeyedLru[str, int] = KeyedLru(cache_size)
        self._queues: AgingQueues[str] = AgingQueues(capacity=queue_capacity, aging_s=aging_s)
        self._step_slots = anyio.Semaphore(max_steps_in_flight)
        self._on_transition = on_transition
        self._viral_skus = viral_skus
        self._self_ref = self_ref
        self._requeue_interval_s = requeue_interval_s
        self._requeue_batch = requeue_batch
        self._running: set[str] = set()  # orders in their steps (<= max_steps_in_flight)
        self._rerun: dict[str, PriorityLevel] = {}  # changed while running (<= the same)
        self._queued: set[str] = set()  # orders in the queues (<= 3 x queue_capacity)
        self._failed: OrderedDict[str, PriorityLevel] = OrderedDict()  # <= queue_capacity
        self._failed_cap = queue_capacity
        self._step_retry_s = step_retry_s
        self._requeue_after: dict[OrderState, str | None] = {}
        self._event_seq = clock.now_ms()  # outbox event ids (see _outbox)
        self._drained = anyio.Event()

    async def on_start(self) -> None:
        if self._steps:
            self.start_daemon(self._requeue_loop)
            self.start_daemon(self._retry_loop)

    # ------------------------------------------------------------------ messages

    async def handle_batch(self, batch: list[Envelope[SchedulerMsg]]) -> None:
        # The newest snapshot of each order in the batch is enough (older ones would be
        # ignored by update_time anyway); commands run in order after it.
        latest: dict[str, Observe] = {}
        askers: dict[str, list[Envelope[SchedulerMsg]]] = {}
        commands: list[Envelope[SchedulerMsg]] = []
        for env in batch:
            msg = env.msg
            if isinstance(msg, Requeue):
                level = PriorityLevel.HIGH if msg.boost else None
                for order_id in msg.order_ids:
                    await self._requeue(order_id, level)
                continue
            if isinstance(msg, Observe):
                askers.setdefault(msg.order.id, []).append(env)
                seen = latest.get(msg.order.id)
                if seen is None or snapshot_freshness(
                    seen.order.update_time,
                    msg.order.update_time,
                    current_status=seen.order.status,
                    incoming_status=msg.order.status,
                ) in (Freshness.NEWER, Freshness.SAME):
                    latest[msg.order.id] = msg
            else:
                commands.append(env)
        pending: list[tuple[str, Reply[object], Known, PriorityLevel]] = []
        written: dict[str, BaseException | None] = {}
        for msg in latest.values():
            try:
                with bound(order_id=msg.order.id, shop_id=msg.shop_id):
                    planned = await self._plan_observe(msg)
            except (AdapterError, DomainError) as exc:
                # Store unreadable now, or an order we cannot read: this order's askers get
                # the error (order sync retries or parks it); the others go on.
                written[msg.order.id] = exc
                continue
            if planned is not None:
                ops, known, level = planned
                reply = await self._writer.request(Write(ops=tuple(ops)))
                pending.append((msg.order.id, reply, known, level))
        # Every order of the batch goes to the writer before we wait: one group commit. An
        # Observe that was asked is answered once its order is durable (or was not newer).
        for order_id, reply, known, level in pending:
            written[order_id] = await self._settle(order_id, reply, known, level)
        for order_id, envs in askers.items():
            error = written.get(order_id)
            for env in envs:
                if error is None:
                    env.reply(None)
                else:
                    env.fail(error)
        for env in commands:  # after the snapshots: a command sees what they wrote
            assert isinstance(env.msg, Command | Advance | ShipmentMoved)
            try:
                if isinstance(env.msg, Advance):
                    await self._advance(env.msg)
                    env.reply(None)
                    continue
                if isinstance(env.msg, ShipmentMoved):
                    await self._shipment_moved(env.msg)
                    env.reply(None)
                    continue
                ops, known, level = await self._plan_command(env.msg)
                reply = await self._writer.request(Write(ops=tuple(ops)))
                error = await self._settle(env.msg.order_id, reply, known, level)
                if error is None:
                    env.reply(CommandResult(order_id=env.msg.order_id, state=str(known[0])))
                else:
                    env.fail(error)
            except (DomainError, KeyError, AdapterError) as exc:
                env.fail(exc)
        self._serve_queue()

    async def _settle(
        self, order_id: str, reply: Reply[object], known: Known, level: PriorityLevel
    ) -> Exception | None:
        """Wait for one order's write; None when durable, else the error."""
        try:
            await reply.wait()
        except Exception as exc:
            # Not durable: forget what we planned; the next snapshot tries again.
            self._known.pop(order_id)
            log.warning("order %s not written: %s", order_id, exc)
            return exc
        self._remember(order_id, known)
        self._enqueue(order_id, level)
        return None

    # ------------------------------------------------------------------ planning

    async def _current(self, order_id: str) -> tuple[Known | None, OrderDoc | None]:
        known = self._known.peek(order_id)
        if known is not None:
            self._known.put(order_id, known)  # most recently used
            return known, None
        row = await self._orders.get_order(order_id)
        if row is None:
            return None, None
        known = (OrderState(row.state), row.tiktok_update_time, row.tiktok_status)
        self._remember(order_id, known)
        return known, _DOC.decode(row.doc)

    async def _plan_observe(
        self, msg: Observe
    ) -> tuple[list[WriteOp], Known, PriorityLevel] | None:
        snapshot = msg.order
        known, _ = await self._current(snapshot.id)
        freshness = snapshot_freshness(
            None if known is None else known[1],
            snapshot.update_time,
            current_status=None if known is None else known[2],
            incoming_status=snapshot.status,
        )
        if freshness in (Freshness.STALE, Freshness.SAME):
            return None
        try:
            order = order_from_tiktok(
                msgspec.to_builtins(snapshot),
                shop_id=msg.shop_id,
                delivery_types=self._delivery_types(msg.shop_id),
            )
        except DomainError as exc:
            log.error("order %s cannot be read: %s", snapshot.id, exc)
            return await self._plan_park(msg, known, exc)
        parked = known is not None and known[0] is OrderState.NEEDS_ATTENTION
        if parked and (await self._stored_doc(snapshot.id)).unreadable is not None:
            known = None  # readable again: classified afresh, as if new (below)
            recovered = True
        else:
            recovered = False
        now_ms = self._clock.now_ms()
        buyer = order.buyer_user_id
        earlier = (self._buyers.peek(buyer) or 0) - (0 if known is None else 1) if buyer else 0
        context = PriorityContext(
            buyer_order_count=lambda _buyer: max(0, earlier), viral_skus=self._viral_skus()
        )
        result = classify(
            order, now_ms // 1000, rules=self._rules, context=context, settings=self._settings
        )
        if known is None and buyer:
            # Orders seen per buyer (bounded LRU, in memory: a restart forgets, so a repeat
            # buyer may score as new for a while; the durable count comes with a store query).
            self._buyers.put(buyer, (self._buyers.peek(buyer) or 0) + 1)
        doc = OrderDoc(order=order, priority=result.priority, decision=result.decision)
        events: list[tuple[OrderState | None, OrderState, str]] = []
        if recovered:
            state = self._move(
                OrderState.NEEDS_ATTENTION, OrderEvent.RETRY, events, "readable again"
            )
            state = self._move(state, OrderEvent.CLASSIFY, events, "classified")
            if result.decision.hold_for_review:
                state = self._move(state, OrderEvent.FLAG, events, "rule: hold for review")
            topic = "order.updated"
        elif known is None:
            state = OrderState.RECEIVED
            events.append((None, state, msg.source))
            state = self._move(state, OrderEvent.CLASSIFY, events, "classified")
            if result.decision.hold_for_review:
                state = self._move(state, OrderEvent.FLAG, events, "rule: hold for review")
            topic = "order.created"
        else:
            state = known[0]
            topic = "order.updated"
        effect = map_tiktok_status(state, snapshot.status)
        if not effect.known:
            log.warning("order %s: unknown TikTok status %r kept", snapshot.id, snapshot.status)
        if effect.event is not None:
            state = self._move(state, effect.event, events, f"tiktok {effect.status}")
        ops = self._ops(order, doc, state, effect.status, snapshot.update_time, now_ms, events)
        ops.append(self._outbox(topic, order.order_id, state, effect.status, now_ms))
        ops.extend(self._milestone(events, order.order_id, state, effect.status, now_ms))
        return ops, (state, snapshot.update_time, effect.status), result.priority.level

    async def _plan_park(
        self, msg: Observe, known: Known | None, error: DomainError
    ) -> tuple[list[WriteOp], Known, PriorityLevel] | None:
        """Park an order whose snapshot cannot be read in ``needs_attention``, with the
        snapshot and the reason, so an operator sees it and its batch-mates go on.

        TikTok's status still applies (a parked order TikTok cancels is cancelled). Raises
        ``error`` again when even that is impossible (no usable order id).
        """
        snapshot = msg.order
        if not is_valid_id(snapshot.id):
            raise error
        unreadable = Unreadable(
            reason=str(error)[:_MAX_REASON], document=msgspec.Raw(_ENCODE(snapshot))
        )
        events: list[tuple[OrderState | None, OrderState, str]] = []
        why = f"unreadable: {unreadable.reason}"
        if known is None:
            order = Order(
                order_id=snapshot.id,
                shop_id=msg.shop_id,
                tiktok_status=snapshot.status,
                update_time=snapshot.update_time,
                create_time=snapshot.create_time,
            )
            priority = Priority(level=PriorityLevel.LOW, score=0, reasons=[(_PARKED, 0)])
            doc = OrderDoc(order=order, priority=priority, decision=Decision())
            state = OrderState.RECEIVED
            events.append((None, state, msg.source))
            state = self._move(state, OrderEvent.FLAG, events, why)
            topic = "order.created"
        else:
            doc = await self._stored_doc(snapshot.id)
            state = known[0]
            if state in FINAL_STATES:
                log.warning(
                    "order %s is %s; its unreadable snapshot is ignored", snapshot.id, state
                )
                return None
            if state is not OrderState.NEEDS_ATTENTION:
                state = self._move(state, OrderEvent.FLAG, events, why)
            topic = "order.updated"
        doc = msgspec.structs.replace(doc, unreadable=unreadable)
        effect = map_tiktok_status(state, snapshot.status)
        if effect.event is not None:
            state = self._move(state, effect.event, events, f"tiktok {effect.status}")
        now_ms = self._clock.now_ms()
        ops = self._ops(doc.order, doc, state, effect.status, snapshot.update_time, now_ms, events)
        ops.append(self._outbox(topic, snapshot.id, state, effect.status, now_ms))
        return ops, (state, snapshot.update_time, effect.status), doc.priority.level

    async def _stored_doc(self, order_id: str) -> OrderDoc:
        """The stored document of an order known to exist. Raises StoreError when it is gone
        (only this actor writes orders, so that is a broken store)."""
        row = await self._orders.get_order(order_id)
        if row is None:
            raise StoreError(f"order {order_id} vanished from the store")
        return _DOC.decode(row.doc)

    async def _plan_command(self, cmd: Command) -> tuple[list[WriteOp], Known, PriorityLevel]:
        known, doc = await self._current(cmd.order_id)
        if known is None:
            raise KeyError(cmd.order_id)
        if doc is None:
            row = await self._orders.get_order(cmd.order_id)
            if row is None:
                raise KeyError(cmd.order_id)
            doc = _DOC.decode(row.doc)
        state, update_time, _ = known
        events: list[tuple[OrderState | None, OrderState, str]] = []
        note = f"operator {cmd.action}" + (f": {cmd.reason}" if cmd.reason else "")
        if cmd.action == "hold":
            state = self._move(state, OrderEvent.FLAG, events, note)
        elif doc.unreadable is not None:
            # Its lines are unknown: the saga would reserve and ship nothing. It leaves the
            # manual queue when TikTok sends a readable snapshot (a webhook or the reconciler).
            raise InvalidTransition(
                f"order {cmd.order_id} is parked unreadable ({doc.unreadable.reason}); it "
                "is released when TikTok sends a snapshot that can be read"
            )
        else:  # release and retry both send a needs_attention order through the saga again
            state = self._move(state, OrderEvent.RETRY, events, note)
            state = self._move(state, OrderEvent.CLASSIFY, events, "classified")
        now_ms = self._clock.now_ms()
        ops = self._ops(doc.order, doc, state, doc.order.tiktok_status, update_time, now_ms, events)
        ops.append(
            self._outbox("order.updated", cmd.order_id, state, doc.order.tiktok_status, now_ms)
        )
        return ops, (state, update_time, doc.order.tiktok_status), doc.priority.level

    async def _advance(self, msg: Advance) -> None:
        """Apply a step's moves if the order is still where the step saw it."""
        known, _ = await self._current(msg.order_id)
        if (
            known is None
            or str(known[0]) != msg.from_state
            or known[1] != msg.update_time
            or not msg.moves
        ):
            return  # changed since the step ran: the change queued it again
        await self._apply_moves(msg.order_id, known, msg.moves)

    async def _shipment_moved(self, msg: ShipmentMoved) -> None:
        """Apply a carrier's news if the state machine allows it from where the order is."""
        known, _ = await self._current(msg.order_id)
        if known is None or not can_transition(known[0], msg.event):
            return
        await self._apply_moves(msg.order_id, known, ((msg.event, msg.why),))

    async def _apply_moves(self, order_id: str, known: Known, moves: Moves) -> None:
        """Make ``moves`` from ``known``: journal, outbox event, one write. Raises the write's
        error (InvalidTransition for a move the state machine refuses)."""
        row = await self._orders.get_order(order_id)
        if row is None:
            return
        doc = _DOC.decode(row.doc)
        state, update_time, status = known
        events: list[tuple[OrderState | None, OrderState, str]] = []
        for event, why in moves:
            state = self._move(state, event, events, why)
        now_ms = self._clock.now_ms()
        ops = self._ops(doc.order, doc, state, status, update_time, now_ms, events)
        ops.append(self._outbox("order.updated", order_id, state, status, now_ms))
        ops.extend(self._milestone(events, order_id, state, status, now_ms))
        reply = await self._writer.request(Write(ops=tuple(ops)))
        error = await self._settle(
            order_id, reply, (state, update_time, status), doc.priority.level
        )
        if error is not None:
            raise error

    def _move(
        self,
        state: OrderState,
        event: OrderEvent,
        events: list[tuple[OrderState | None, OrderState, str]],
        why: str,
    ) -> OrderState:
        new = transition(state, event)  # raises InvalidTransition
        events.append((state, new, why))
        if self._on_transition is not None:
            self._on_transition(str(state), str(new))
        return new

    @staticmethod
    def _ops(
        order: Order,
        doc: OrderDoc,
        state: OrderState,
        tiktok_status: str,
        update_time: int,
        now_ms: int,
        events: list[tuple[OrderState | None, OrderState, str]],
    ) -> list[WriteOp]:
        ops: list[WriteOp] = [
            UpsertOrder(
                order_id=order.order_id,
                shop_id=order.shop_id,
                state=str(state),
                tiktok_status=tiktok_status,
                priority=doc.priority.level.value,
                score=doc.priority.score,
                tiktok_update_time=update_time,
                updated_at_ms=now_ms,
                doc=_ENCODE(doc),
            )
        ]
        for before, after, why in events:
            ops.append(
                AppendOrderEvent(
                    order_id=order.order_id,
                    at_ms=now_ms,
                    kind="transition",
                    from_state=None if before is None else str(before),
                    to_state=str(after),
                    detail=_ENCODE({"why": why}),
                )
            )
        if events and events[0][0] is None and doc.decision.log:
            ops.append(
                AppendOrderEvent(
                    order_id=order.order_id,
                    at_ms=now_ms,
                    kind="decision",
                    from_state=None,
                    to_state=None,
                    detail=_ENCODE(doc.decision),
                )
            )
        return ops

    def _milestone(
        self,
        events: list[tuple[OrderState | None, OrderState, str]],
        order_id: str,
        state: OrderState,
        status: str,
        now_ms: int,
    ) -> list[WriteOp]:
        """``order.labeled`` / ``.shipped`` / ``.delivered`` besides ``order.updated`` when
        this write reached one of those states."""
        if not events or (topic := _MILESTONES.get(events[-1][1])) is None:
            return []
        return [self._outbox(topic, order_id, state, status, now_ms)]

    def _outbox(
        self, topic: str, order_id: str, state: OrderState, status: str, now_ms: int
    ) -> WriteOp:
        payload = {"order_id": order_id, "state": str(state), "tiktok_status": status}
        # Unique without a random part: the injected clock, and this actor's counter (seeded
        # from the clock at start, so a restart does not reuse a number within the same ms).
        self._event_seq += 1
        return AppendOutbox(
            event_id=f"{topic}:{order_id}:{now_ms}:{self._event_seq}",
            topic=topic,
            key=order_id,
            payload=_ENCODE(payload),
            created_at_ms=now_ms,
        )

    def _remember(self, order_id: str, known: Known) -> None:
        self._known.put(order_id, known)

    # ------------------------------------------------------------------ the saga queue

    async def _requeue(self, order_id: str, level: PriorityLevel | None) -> None:
        if level is None:
            row = await self._orders.get_order(order_id)
            if row is None:
                return
            level = PriorityLevel(row.priority)
        self._enqueue(order_id, level)

    async def _requeue_loop(self) -> None:
        """Queue waiting orders again (see the module docstring)."""
        first = (
            OrderState.CLASSIFIED,
            OrderState.BACKORDERED,
            OrderState.RESERVED,
            OrderState.ON_HOLD,
        )
        for state in first:  # after a start: everything a crash may have left mid-step
            await self._requeue_state(state, until_end=True)
        while True:
            await self._timer.sleep(self._requeue_interval_s)
            for state in (OrderState.CLASSIFIED, OrderState.BACKORDERED):
                await self._requeue_state(state, until_end=False)

    async def _requeue_state(self, state: OrderState, *, until_end: bool) -> None:
        """Walk the orders in ``state`` from where the last walk stopped, queueing each; stop
        at the end (and wrap) or, unless ``until_end``, once the queues hold a page."""
        after = self._requeue_after.get(state)
        while True:
            try:
                rows = await self._orders.list_orders(
                    state=str(state), after=after, limit=self._requeue_batch
                )
            except AdapterError as exc:
                log.warning("requeue: store unavailable: %s", exc)
                return
            for row in rows:
                self._enqueue(row.order_id, PriorityLevel(row.priority))
            self._serve_queue()
            after = rows[-1].order_id if len(rows) == self._requeue_batch else None
            self._requeue_after[state] = after
            if after is None:
                return  # the end: the next walk starts over
            if len(self._queues) >= self._requeue_batch:
                if not until_end:
                    return
                await self._queue_drained()

    async def _queue_drained(self) -> None:
        """Wait until the saga queues are below one page (the start-up walk's backpressure)."""
        while len(self._queues) >= self._requeue_batch:
            self._drained = anyio.Event()
            await self._drained.wait()

    async def _retry_loop(self) -> None:
        """Run again, after ``step_retry_s``, the orders whose steps failed."""
        while True:
            await self._timer.sleep(self._step_retry_s)
            failed, self._failed = self._failed, OrderedDict()
            for order_id, level in failed.items():
                self._enqueue(order_id, level)
            self._serve_queue()

    def _enqueue(self, order_id: str, level: PriorityLevel) -> None:
        if not self._steps:
            return  # no saga steps configured
        if order_id in self._running:
            self._rerun[order_id] = level  # runs again when its current steps finish
            return
        if order_id in self._queued:
            return  # already waiting for its steps
        if not self._queues.push(order_id, level, self._clock.now_ms() / 1000):
            log.warning("saga queue %s full; order %s waits for its next snapshot", level, order_id)
            return
        self._queued.add(order_id)

    def _serve_queue(self) -> None:
        while self._steps and len(self._queues):
            if self._step_slots.value == 0:
                return
            queued = self._queues.pop(self._clock.now_ms() / 1000)
            if queued is None:
                return
            self._queued.discard(queued.item)
            if queued.item in self._running:
                self._rerun[queued.item] = queued.level
                continue
            try:
                self.start_background(self._run_steps, queued.item, queued.level)
            except RuntimeError:
                return  # stopping: the order's state is durable; the next start requeues it
            self._step_slots.acquire_nowait()
            self._running.add(queued.item)

    async def _run_steps(self, order_id: str, level: PriorityLevel) -> None:
        with bound(order_id=order_id):
            await self._steps_of(order_id, level)

    async def _steps_of(self, order_id: str, level: PriorityLevel) -> None:
        try:
            row = await self._orders.get_order(order_id)
            if row is None:
                return
            doc = _DOC.decode(row.doc)
            moves: list[tuple[OrderEvent, str]] = []
            for step in self._steps:
                moves.extend(await step.run(order_id, doc, OrderState(row.state)))
            if moves and self._self_ref is not None:
                await self._self_ref().tell(
                    Advance(
                        order_id=order_id,
                        from_state=row.state,
                        update_time=row.tiktok_update_time,
                        moves=tuple(moves),
                    )
                )
        except Exception as exc:
            log.warning(
                "saga step failed for order %s (retried in %g s): %r",
                order_id,
                self._step_retry_s,
                exc,
            )
            self._failed[order_id] = level
            self._failed.move_to_end(order_id)
            while len(self._failed) > self._failed_cap:
                self._failed.popitem(last=False)  # the requeue loop still finds it
        finally:
            self._running.discard(order_id)
            self._step_slots.release()
            again = self._rerun.pop(order_id, None)
            if again is not None:
                self._enqueue(order_id, again)
            self._serve_queue()
            if len(self._queues) < self._requeue_batch:
                self._drained.set()


__all__ = [
    "Advance",
    "Command",
    "CommandResult",
    "InvalidTransition",
    "Moves",
    "Observe",
    "OrderDoc",
    "OrderScheduler",
    "Requeue",
    "SagaStep",
    "SchedulerMsg",
    "ShipmentMoved",
    "Unreadable",
]
