"""Test helpers for code built on the runtime: a fake clock and a scheduler-settling helper.

Shipped in the product (like httpx's ``MockTransport``) so tests of actors elsewhere use the same
fakes. Nothing here is used in production code paths.

* :class:`FakeClock` implements :class:`~creatorflow.runtime.MonotonicClock`; time moves only
  when the test calls :meth:`FakeClock.advance`, so restart intensity, backoff and idle
  passivation are deterministic and take no real time.
* :class:`ShiftedClock` is real time plus an offset the test moves forward with
  :meth:`ShiftedClock.advance`: for end-to-end tests with real I/O, where time must flow but a
  long wait (an outage window, a backoff) should be skipped. It is both a monotonic clock and a
  wall clock (``now_ms``), shifted together.
* :func:`wait_all_tasks_blocked` returns once every other task is blocked, on asyncio (also with
  uvloop) and on trio, so tests synchronise without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

import anyio
import anyio.lowlevel

__all__ = ["FakeClock", "ShiftedClock", "wait_all_tasks_blocked"]

# Settling normally takes a handful of passes; this many means some task never blocks.
_MAX_PASSES = 10_000


class FakeClock:
    """A manual monotonic clock: ``now()`` changes only through :meth:`advance`.

    ``sleep(s)`` with ``s <= 0`` is a plain checkpoint; otherwise the caller blocks until a test
    advances the clock past its deadline. Sleepers are kept in a heap: one entry per sleeping
    task, removed when the sleep ends or is cancelled.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()
        self._added = anyio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Block until the clock was advanced by ``seconds`` (a checkpoint; cancellable)."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        item = (self._now + seconds, next(self._seq), anyio.Event())
        heapq.heappush(self._sleepers, item)
        self._added.set()
        self._added = anyio.Event()
        try:
            await item[2].wait()
        finally:
            if not item[2].is_set():  # cancelled: forget the deadline
                self._sleepers.remove(item)
                heapq.heapify(self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come. Never blocks; the
        woken tasks run at the caller's next checkpoint."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()

    @property
    def sleepers(self) -> int:
        """How many tasks are sleeping on this clock."""
        return len(self._sleepers)

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline of a sleeper, or None."""
        return self._sleepers[0][0] if self._sleepers else None

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Block until at least ``count`` tasks sleep on this clock."""
        while len(self._sleepers) < count:
            added = self._added
            await added.wait()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleepers={len(self._sleepers)})"


class ShiftedClock:
    """Real time plus an offset that only grows: :meth:`advance` jumps forward at once.

    ``now()`` is ``time.monotonic()`` and ``now_ms()`` the Unix time in ms, both plus the
    offset. ``sleep(s)`` waits in real time, and returns early once an :meth:`advance` moves
    ``now()`` past its deadline.
    """

    def __init__(self) -> None:
        self._offset_s = 0.0
        self._advanced: anyio.Event | None = None  # created by the first sleeper (needs a loop)

    @property
    def offset_s(self) -> float:
        """How far this clock was moved ahead of real time, in seconds."""
        return self._offset_s

    def now(self) -> float:
        return time.monotonic() + self._offset_s

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + int(self._offset_s * 1000)

    async def sleep(self, seconds: float) -> None:
        """Wait until ``now()`` has moved by ``seconds``, in real time or by an advance (a
        checkpoint; cancellable)."""
        deadline = self.now() + seconds
        await anyio.lowlevel.checkpoint()
        while (remaining := deadline - self.now()) > 0:
            if self._advanced is None:
                self._advanced = anyio.Event()
            advanced = self._advanced
            with anyio.move_on_after(remaining):
                await advanced.wait()

    def advance(self, seconds: float) -> None:
        """Jump forward; sleepers whose deadline has passed wake at the caller's next
        checkpoint, the others go on sleeping for what is left. Never blocks."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._offset_s += seconds
        advanced, self._advanced = self._advanced, None
        if advanced is not None:
            advanced.set()

    def __repr__(self) -> str:
        return f"ShiftedClock(offset_s={self._offset_s!r})"


async def wait_all_tasks_blocked() -> None:
    """Return once every other task of this event loop is blocked (a checkpoint).

    On trio this is ``trio.testing.wait_all_tasks_blocked``. On asyncio (and uvloop) it yields
    until, twice in a row, every other task waits on an unfinished future.

    Raises:
        RuntimeError: some task stayed runnable for 10 000 passes (a busy loop).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    this = asyncio.current_task()
    quiet = 0
    for _ in range(_MAX_PASSES):
        await asyncio.sleep(0)
        if all(_blocked(task) for task in asyncio.all_tasks() if task is not this):
            quiet += 1
            if quiet == 2:
                return
        else:
            quiet = 0
    raise RuntimeError("wait_all_tasks_blocked: some task never blocked")


def _blocked(task: asyncio.Task[object]) -> bool:
    waiter = getattr(task, "_fut_waiter", None)
    return waiter is not None and not waiter.done()
