"""Priority queues with aging for the order scheduler (pure: time comes in as an argument).

Three bounded FIFO queues, HIGH / STANDARD / LOW. ``pop(now)`` serves the queue whose head has
the best *effective rank*: its level's rank minus one for every ``aging_s`` seconds the head has
waited. So HIGH is served first while everything is fresh, but a STANDARD order that has waited
``aging_s`` competes with a fresh HIGH one, and one that waited ``2 * aging_s`` beats it: no
level starves under a flood of higher ones. Ties go to the higher level.

Bounded: ``push`` refuses (returns False) when the item's level is at ``capacity``; the caller
leaves that order to be picked up again (its state is durable) instead of growing memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from creatorflow.domain.priority import PriorityLevel

T = TypeVar("T", bound=Hashable)

#: Rank of each level: lower is served first.
RANKS: dict[PriorityLevel, int] = {
    PriorityLevel.HIGH: 0,
    PriorityLevel.STANDARD: 1,
    PriorityLevel.LOW: 2,
}


@dataclass(frozen=True, slots=True)
class Queued(Generic[T]):
    """An item with the time it was queued (seconds, the caller's clock)."""

    item: T
    level: PriorityLevel
    queued_at: float


class AgingQueues(Generic[T]):
    """HIGH / STANDARD / LOW FIFO queues with aging; every queue holds at most ``capacity``."""

    def __init__(self, *, capacity: int, aging_s: float) -> None:
        if capacity < 1 or aging_s <= 0:
            raise ValueError("AgingQueues needs capacity >= 1 and aging_s > 0")
        self.capacity = capacity
        self.aging_s = aging_s
        self._queues: dict[PriorityLevel, deque[Queued[T]]] = {
            level: deque(maxlen=capacity) for level in RANKS
        }

    def push(self, item: T, level: PriorityLevel, now: float) -> bool:
        """Queue ``item`` at ``level``; False (nothing queued) when that level is full."""
        queue = self._queues[level]
        if len(queue) >= self.capacity:
            return False
        queue.append(Queued(item, level, now))
        return True

    def pop(self, now: float) -> Queued[T] | None:
        """The next item to serve (see the module docstring), or None when all are empty."""
        best: deque[Queued[T]] | None = None
        best_rank = 0.0
        for level, rank in RANKS.items():
            queue = self._queues[level]
            if not queue:
                continue
            effective = rank - (now - queue[0].queued_at) / self.aging_s
            if best is None or effective < best_rank:
                best, best_rank = queue, effective
        return None if best is None else best.popleft()

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def depth(self, level: PriorityLevel) -> int:
        return len(self._queues[level])

    def oldest_wait(self, level: PriorityLevel, now: float) -> float:
        """Seconds the head of ``level`` has waited (0 when empty): the aging metric."""
        queue = self._queues[level]
        return now - queue[0].queued_at if queue else 0.0

    def __iter__(self) -> Iterator[Queued[T]]:
        for level in RANKS:
            yield from self._queues[level]
