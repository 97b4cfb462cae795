"""Stock of one seller SKU and the rules that change it (pure).

One :class:`SkuStock` per SKU, owned by that SKU's actor: every change goes through it, so a
reservation is a plain check-and-set that can never oversell (DESIGN §6.4). The invariant after
every method, whatever it returns or raises::

    0 <= reserved <= on_hand,   reserved == sum(qty of live holds)

**Reservations** are keyed by order id (one per order and SKU; several units are one hold of
``qty``). Every operation is idempotent by that key:

- ``reserve`` — a new hold when ``available - qty >= safety_buffer`` ("conservative
  reservations": the buffer is never promised), else refused (no change). Reserving again for an
  order that holds stock changes only what differs: a new expiry (``None`` makes the hold firm,
  as when an UNPAID order is paid) or a new quantity (a larger one must fit like a new hold).
  An order whose hold was committed (shipped) is not reserved again.
- ``release`` — the hold ends (cancel, or a compensating release of a multi-SKU order); a
  release of nothing is a no-op.
- ``commit`` — the order shipped: ``on_hand`` and ``reserved`` both drop by the hold's qty. An
  order that holds nothing commits ``qty`` units from free stock (shipped outside
  CreatorFlow), as many as there are (never into reserved stock): the journal notes a
  shortfall.
- ``expire`` — holds with an expiry (UNPAID / ON_HOLD orders) stop counting at their expiry:
  every method first expires what is due, so an expired hold never blocks a reservation; the
  actor journals the expiry with the change that noticed it (or a sweep does).

**Stock changes** — ``adjust`` (a delta with a reason: receipts, damage, cycle counts) and
``set_on_hand`` (sync from a count) — are refused when ``on_hand`` would drop below zero or below
what is reserved: stock promised to orders cannot disappear silently; the operator releases or
cancels orders first (the refusal says how many units are reserved).

Each method returns the :class:`Change` list it made (empty: nothing changed), which the actor
turns into journal rows and store writes; the stock is changed in place. A refused change
(``InventoryRefused``) changes nothing except expiring what was due, so a caller that journals
every change calls :meth:`SkuStock.expire` first. Memory is bounded by the open holds (one
entry each) plus ``closed_capacity`` recently closed order ids.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, Literal

import msgspec

from creatorflow.errors import InventoryRefused

ChangeKind = Literal["reserve", "release", "commit", "expire", "adjust", "set", "receive", "repair"]
HoldState = Literal["held", "committed", "released", "expired"]

#: Recently closed (committed / released / expired) order ids remembered per SKU (the actor
#: reads older ones back from the store when it needs them).
DEFAULT_CLOSED_CAPACITY: Final = 256
#: Most units one SKU may have on hand (the API's bound on a count, kept by every change).
MAX_ON_HAND: Final = 1_000_000_000


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """Stock held for one order. ``expires_at_ms`` None: firm (held until commit or release)."""

    order_id: str
    qty: int
    expires_at_ms: int | None
    created_at_ms: int


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a SKU's stock, as journaled.

    ``hold`` and ``hold_state``: the reservation row to write (None for stock-only changes).
    ``on_hand`` and ``reserved`` are the values right after this change.
    """

    kind: ChangeKind
    order_id: str = ""
    delta_on_hand: int = 0
    delta_reserved: int = 0
    on_hand: int
    reserved: int
    reason: str = ""
    hold: Hold | None = None
    hold_state: HoldState | None = None


class ReserveResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of :meth:`SkuStock.reserve`.

    ``outcome``: ``reserved`` (a new hold), ``held`` (the order already held it: idempotent
    repeat, possibly with a new expiry or qty), ``committed`` (the order already shipped this
    SKU: nothing to hold), ``refused`` (not enough stock above the safety buffer).
    """

    outcome: Literal["reserved", "held", "committed", "refused"]
    qty: int
    available: int
    changes: tuple[Change, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


class SkuStock:
    """The stock of one SKU (see the module docstring). Not thread-safe: one owner."""

    __slots__ = (
        "_closed",
        "_closed_capacity",
        "_expiries",
        "_holds",
        "_reserved",
        "on_hand",
        "safety_buffer",
        "sku",
    )

    def __init__(
        self,
        sku: str,
        *,
        on_hand: int = 0,
        safety_buffer: int = 0,
        holds: Iterable[Hold] = (),
        closed_capacity: int = DEFAULT_CLOSED_CAPACITY,
    ) -> None:
        if on_hand < 0 or safety_buffer < 0:
            raise InventoryRefused("negative", f"{sku}: on_hand and safety_buffer must be >= 0")
        self.sku = sku
        self.on_hand = on_hand
        self.safety_buffer = safety_buffer
        self._holds: dict[str, Hold] = {}
        self._reserved = 0
        self._expiries: list[tuple[int, str]] = []  # (expires_at_ms, order_id), lazy deletion
        self._closed: OrderedDict[str, HoldState] = OrderedDict()
        self._closed_capacity = max(1, closed_capacity)
        for hold in holds:
            self._add_hold(hold)

    # ------------------------------------------------------------------ views

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def available(self) -> int:
        """On hand minus reserved (the safety buffer is not subtracted)."""
        return self.on_hand - self._reserved

    @property
    def sellable(self) -> int:
        """What may still be promised to new orders: available minus the safety buffer."""
        return max(0, self.on_hand - self._reserved - self.safety_buffer)

    @property
    def hold_count(self) -> int:
        return len(self._holds)

    def hold_of(self, order_id: str) -> Hold | None:
        return self._holds.get(order_id)

    def holds(self) -> list[Hold]:
        """Live holds, order ids ascending."""
        return [self._holds[k] for k in sorted(self._holds)]

    def closed_state(self, order_id: str) -> HoldState | None:
        """How the order's hold ended, if it ended recently (bounded memory)."""
        return self._closed.get(order_id)

    def remember_closed(self, order_id: str, state: HoldState) -> None:
        """Record how an order's hold ended, as read from the store (an actor that reloaded
        does not remember it otherwise), so a repeat of its commit or reserve is a no-op."""
        if order_id not in self._holds:
            self._close(order_id, state)

    def next_expiry_ms(self) -> int | None:
        """When the next hold expires (None: no expiring hold)."""
        while self._expiries:
            at, order_id = self._expiries[0]
            hold = self._holds.get(order_id)
            if hold is not None and hold.expires_at_ms == at:
                return at
            heapq.heappop(self._expiries)
        return None

    # ------------------------------------------------------------------ reservations

    def reserve(
        self, order_id: str, qty: int, now_ms: int, *, expires_at_ms: int | None = None
    ) -> ReserveResult:
        """Hold ``qty`` units for ``order_id`` (see the module docstring)."""
        if qty < 1:
            raise InventoryRefused("bad_quantity", f"{self.sku}: reserve qty must be >= 1")
        changes = self.expire(now_ms)
        if expires_at_ms is not None and expires_at_ms <= now_ms:
            raise InventoryRefused("bad_quantity", f"{self.sku}: hold would expire at once")
        current = self._holds.get(order_id)
        if current is None:
            if self._closed.get(order_id) == "committed":
                return ReserveResult(
                    outcome="committed", qty=0, available=self.available, changes=tuple(changes)
                )
            if self.on_hand - self._reserved - qty < self.safety_buffer:
                return ReserveResult(
                    outcome="refused", qty=qty, available=self.available, changes=tuple(changes)
                )
            hold = Hold(
                order_id=order_id, qty=qty, expires_at_ms=expires_at_ms, created_at_ms=now_ms
            )
            self._add_hold(hold)
            self._closed.pop(order_id, None)
            changes.append(self._change("reserve", hold, "held", delta_reserved=qty))
            return ReserveResult(
                outcome="reserved", qty=qty, available=self.available, changes=tuple(changes)
            )
        delta = qty - current.qty
        if delta > 0 and self.on_hand - self._reserved - delta < self.safety_buffer:
            return ReserveResult(
                outcome="refused", qty=qty, available=self.available, changes=tuple(changes)
            )
        if delta == 0 and current.expires_at_ms == expires_at_ms:
            return ReserveResult(
                outcome="held", qty=qty, available=self.available, changes=tuple(changes)
            )
        self._drop_hold(order_id)
        hold = Hold(
            order_id=order_id,
            qty=qty,
            expires_at_ms=expires_at_ms,
            created_at_ms=current.created_at_ms,
        )
        self._add_hold(hold)
        why = "firm" if expires_at_ms is None else f"hold until {expires_at_ms}"
        changes.append(self._change("reserve", hold, "held", delta_reserved=delta, reason=why))
        return ReserveResult(
            outcome="held", qty=qty, available=self.available, changes=tuple(changes)
        )

    def release(self, order_id: str, now_ms: int, *, reason: str = "") -> list[Change]:
        """End the order's hold (no-op when it holds nothing)."""
        changes = self.expire(now_ms)
        hold = self._holds.get(order_id)
        if hold is None:
            return changes
        self._drop_hold(order_id)
        self._close(order_id, "released")
        changes.append(
            self._change("release", hold, "released", delta_reserved=-hold.qty, reason=reason)
        )
        return changes

    def commit(self, order_id: str, now_ms: int, *, qty: int = 0, reason: str = "") -> list[Change]:
        """The order shipped: its held units leave the shelf (see the module docstring).

        ``qty`` (0: all that is held): the units shipped. Fewer than held (some were cancelled
        in the same snapshot) ships ``qty`` and frees the rest; when the order holds nothing
        (shipped without a reservation) ``qty`` units leave free stock.
        """
        changes = self.expire(now_ms)
        hold = self._holds.get(order_id)
        if hold is not None:
            shipped = hold.qty if qty <= 0 else min(qty, hold.qty)
            self._drop_hold(order_id)
            self.on_hand -= shipped
            self._close(order_id, "committed")
            committed = Hold(
                order_id=order_id,
                qty=shipped,
                expires_at_ms=hold.expires_at_ms,
                created_at_ms=hold.created_at_ms,
            )
            changes.append(
                self._change(
                    "commit",
                    committed,
                    "committed",
                    delta_on_hand=-shipped,
                    delta_reserved=-hold.qty,
                    reason=reason,
                )
            )
            return changes
        if self._closed.get(order_id) == "committed" or qty == 0:
            return changes
        if qty < 0:
            raise InventoryRefused("bad_quantity", f"{self.sku}: commit qty must be >= 0")
        # Shipped without a hold (outside CreatorFlow, or while backordered): the units left,
        # so take what free stock has; what it lacks was never on record here (the journal
        # says so). Recorded as committed either way, so a repeat takes nothing more.
        taken = min(qty, self.on_hand - self._reserved)
        self.on_hand -= taken
        self._close(order_id, "committed")
        why = reason or "unreserved"
        if taken < qty:
            why = f"{why}: shipped {qty}, only {taken} free on record"
        # The row records what shipped (so a reloaded actor sees the order committed); the
        # journal's delta is what left the count.
        hold = Hold(order_id=order_id, qty=qty, expires_at_ms=None, created_at_ms=now_ms)
        changes.append(self._change("commit", hold, "committed", delta_on_hand=-taken, reason=why))
        return changes

    def expire(self, now_ms: int) -> list[Change]:
        """Expire every hold due at ``now_ms`` (they stop counting at once)."""
        changes: list[Change] = []
        while self._expiries and self._expiries[0][0] <= now_ms:
            at, order_id = heapq.heappop(self._expiries)
            hold = self._holds.get(order_id)
            if hold is None or hold.expires_at_ms != at:
                continue  # released, committed or re-held since: a stale heap entry
            del self._holds[order_id]
            self._reserved -= hold.qty
            self._close(order_id, "expired")
            changes.append(
                self._change("expire", hold, "expired", delta_reserved=-hold.qty, reason="expired")
            )
        return changes

    # ------------------------------------------------------------------ stock

    def adjust(
        self, delta: int, now_ms: int, *, reason: str, kind: ChangeKind = "adjust"
    ) -> list[Change]:
        """Add ``delta`` (may be negative) to on hand, with a reason."""
        if not reason:
            raise InventoryRefused("bad_quantity", f"{self.sku}: an adjustment needs a reason")
        changes = self.expire(now_ms)
        if delta == 0:
            return changes
        self._check_on_hand(self.on_hand + delta)
        self.on_hand += delta
        changes.append(self._change(kind, None, None, delta_on_hand=delta, reason=reason))
        return changes

    def set_on_hand(self, on_hand: int, now_ms: int, *, reason: str = "count") -> list[Change]:
        """Set on hand from a count (a no-op when it is already that)."""
        changes = self.expire(now_ms)
        delta = on_hand - self.on_hand
        if delta == 0:
            return changes
        self._check_on_hand(on_hand)
        self.on_hand = on_hand
        changes.append(self._change("set", None, None, delta_on_hand=delta, reason=reason))
        return changes

    def set_safety_buffer(self, units: int) -> None:
        """Change the buffer; existing holds are kept (it only gates new reservations)."""
        if units < 0:
            raise InventoryRefused("negative", f"{self.sku}: safety_buffer must be >= 0")
        self.safety_buffer = units

    # ------------------------------------------------------------------ internals

    def _check_on_hand(self, new_on_hand: int) -> None:
        if new_on_hand > MAX_ON_HAND:
            raise InventoryRefused(
                "too_large",
                f"{self.sku}: on hand would be {new_on_hand}, over the {MAX_ON_HAND} limit",
            )
        if new_on_hand < 0:
            raise InventoryRefused(
                "negative", f"{self.sku}: on hand would be {new_on_hand} (now {self.on_hand})"
            )
        if new_on_hand < self._reserved:
            raise InventoryRefused(
                "below_reserved",
                f"{self.sku}: on hand would be {new_on_hand} but {self._reserved} units are "
                "reserved by open orders; release or cancel them first",
            )

    def _add_hold(self, hold: Hold) -> None:
        if hold.qty < 1:
            raise InventoryRefused("bad_quantity", f"{self.sku}: hold of {hold.order_id} < 1")
        self._holds[hold.order_id] = hold
        self._reserved += hold.qty
        if hold.expires_at_ms is not None:
            heapq.heappush(self._expiries, (hold.expires_at_ms, hold.order_id))

    def _drop_hold(self, order_id: str) -> None:
        hold = self._holds.pop(order_id)
        self._reserved -= hold.qty  # its heap entry, if any, goes stale and is skipped

    def _close(self, order_id: str, state: HoldState) -> None:
        self._closed[order_id] = state
        self._closed.move_to_end(order_id)
        while len(self._closed) > self._closed_capacity:
            self._closed.popitem(last=False)

    def _change(
        self,
        kind: ChangeKind,
        hold: Hold | None,
        state: HoldState | None,
        *,
        delta_on_hand: int = 0,
        delta_reserved: int = 0,
        reason: str = "",
    ) -> Change:
        return Change(
            kind=kind,
            order_id="" if hold is None else hold.order_id,
            delta_on_hand=delta_on_hand,
            delta_reserved=delta_reserved,
            on_hand=self.on_hand,
            reserved=self._reserved,
            reason=reason,
            hold=hold,
            hold_state=state,
        )


def reservation_plan(lines: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The order in which a multi-SKU order reserves: one entry per SKU (quantities summed),
    SKU ids ascending, so every order takes SKUs in the same global order."""
    totals: dict[str, int] = {}
    for sku, qty in lines:
        if qty > 0:
            totals[sku] = totals.get(sku, 0) + qty
    return sorted(totals.items())


__all__ = [
    "Change",
    "ChangeKind",
    "Hold",
    "HoldState",
    "ReserveResult",
    "SkuStock",
    "reservation_plan",
]
