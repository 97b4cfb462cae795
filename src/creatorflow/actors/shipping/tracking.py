"""Tracking poller: follows parcels to delivery, and brings back orders waiting for a label.

Inbox:   PollNow (asked: run one pass now; reply: the number of shipments looked at)
         | TrackNow (told by the carrier push endpoint: look at this parcel now)
Replies: int for PollNow
State:   none between passes (the schedule is durable: each shipment's ``next_check_at_ms``)
Restart: permanent
Full:    PollNow asks wait

Every ``interval_s``, in one process only (leader election, like the reconciler), one pass:

- the shipments ``shipped`` / ``in_transit`` whose next check is due (at most ``batch`` per
  pass, soonest first) are tracked at the gateway; what the tracker says goes to the carrier
  pool (``TrackingSeen``), which stores it, schedules the next check (spaced out as the parcel
  ages) and moves the order (in transit, delivered, or a failed delivery to the manual queue);
- the shipments ``awaiting_label`` whose retry time came are requeued in the order scheduler
  (boosted), so the label step tries again.

A tracking number the gateway does not know is looked at again later (the carrier may not
have scanned it yet); the gateway down skips the rest of the pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import msgspec

from creatorflow.actors.order_scheduler import Requeue, SchedulerMsg
from creatorflow.actors.shipping.messages import CarrierPoolMsg, TrackingSeen
from creatorflow.domain.shipping import Tracker, TrackingStatus
from creatorflow.errors import AdapterError, CarrierError, CarrierNotFound, CreatorFlowError
from creatorflow.ports import Clock, LeaderElection
from creatorflow.ports.shipments import ShipmentReader
from creatorflow.ports.shipping import CarrierTracking
from creatorflow.runtime import Actor, ActorRef, Envelope, MonotonicClock

log = logging.getLogger("creatorflow.shipping")

LEADER_NAME = "tracking_poller"
UNKNOWN = TrackingStatus.UNKNOWN


class PollNow(msgspec.Struct, frozen=True, kw_only=True, tag="poll_now"):
    """Run one pass now (asked). Reply: the number of shipments looked at."""


class TrackNow(msgspec.Struct, frozen=True, kw_only=True, tag="track_now"):
    """A carrier pushed news of this parcel (told): track it now, whoever leads (the push
    is a hint; what counts is what the gateway answers)."""

    tracking_number: str


PollerMsg = PollNow | TrackNow


class TrackingPoller(Actor[PollerMsg]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        gateway: CarrierTracking,
        shipments: ShipmentReader,
        pool: Callable[[], ActorRef[CarrierPoolMsg]],
        scheduler: Callable[[], ActorRef[SchedulerMsg]],
        leader: LeaderElection,
        clock: Clock,
        timer: MonotonicClock,
        interval_s: float = 15.0,
        batch: int = 200,
        call_timeout_s: float = 10.0,
    ) -> None:
        self._gateway = gateway
        self._shipments = shipments
        self._pool = pool
        self._scheduler = scheduler
        self._leader = leader
        self._clock = clock
        self._timer = timer
        self._interval_s = interval_s
        self._batch = batch
        self._call_timeout_s = call_timeout_s
        self._lock = anyio.Lock()  # one pass at a time: the timer's or an asked one

    async def on_start(self) -> None:
        self.start_daemon(self._every_interval)

    async def handle(self, env: Envelope[PollerMsg]) -> None:
        try:
            match env.msg:
                case PollNow():
                    env.reply(await self.run_once())
                case TrackNow(tracking_number=number):
                    await self._track_now(number)
                    env.reply(0)
        except CreatorFlowError as exc:
            env.fail(exc)

    async def _track_now(self, tracking_number: str) -> None:
        row = await self._shipments.shipment_by_tracking(tracking_number)
        if row is None or row.state not in ("labeled", "shipped", "in_transit"):
            return
        try:
            with anyio.fail_after(self._call_timeout_s):
                tracker = await self._gateway.track(tracking_number)
        except (AdapterError, TimeoutError) as exc:
            log.warning("tracking poller: pushed parcel %s not read: %s", tracking_number, exc)
            return  # the scheduled poll reads it later
        await self._pool().tell(TrackingSeen(order_id=row.order_id, tracker=tracker))

    async def _every_interval(self) -> None:
        while True:
            await self._timer.sleep(self._interval_s)
            try:
                await self.run_once()
            except CreatorFlowError as exc:
                log.warning("tracking poller: pass failed: %s", exc)

    async def run_once(self) -> int:
        """One pass (see the module docstring); 0 when another process leads."""
        async with self._lock:
            if not await self._leader.try_lead(LEADER_NAME):
                return 0
            now = self._clock.now_ms()
            waiting = await self._shipments.due_shipments(["awaiting_label"], now, self._batch)
            if waiting:
                ids = tuple(row.order_id for row in waiting)
                await self._scheduler().tell(Requeue(order_ids=ids, boost=True))
            due = await self._shipments.due_shipments(["shipped", "in_transit"], now, self._batch)
            for row in due:
                try:
                    with anyio.fail_after(self._call_timeout_s):
                        tracker = await self._gateway.track(row.tracking_number)
                except CarrierNotFound:
                    # Not scanned yet (or a carrier that cannot track): looked at again later.
                    tracker = Tracker(tracking_number=row.tracking_number, status=UNKNOWN)
                except (CarrierError, TimeoutError) as exc:
                    log.warning("tracking poller: gateway failed, pass cut short: %s", exc)
                    break
                except AdapterError as exc:
                    log.warning("tracking poller: %s", exc)
                    break
                await self._pool().tell(TrackingSeen(order_id=row.order_id, tracker=tracker))
            return len(waiting) + len(due)


__all__ = ["LEADER_NAME", "PollNow", "PollerMsg", "TrackNow", "TrackingPoller"]
