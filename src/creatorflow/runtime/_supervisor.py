"""Supervisors: run children in order, restart the ones that crash, escalate when it is too often.

Children are :class:`~creatorflow.runtime.Child` slots (see ``_child.py``): actor slots, nested
supervisors, registries, custom services. A slot persists across restarts; each ``run()`` is one
incarnation, so refs to an actor child stay valid while it is restarted.

Restart types (Erlang): ``permanent`` always restarted, ``transient`` only after a crash,
``temporary`` never. A child that is not restarted is *finished*: it is closed (waiting asks get
ActorStopped) and stays finished, even when its supervisor is itself restarted.

Stop order: :meth:`Supervisor.stop` stops children in reverse start order, one at a time. Each
stops accepting, drains what it queued and runs ``on_stop`` before the next (earlier) child is
asked to stop, so a draining child can still send to the children it was started after (ingress
drains into orders while the store writer still accepts). A child that crashes while draining is
restarted (its restart type and the intensity allowing) so its queue is still drained.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from creatorflow.errors import RestartIntensityExceeded
from creatorflow.runtime._actor import ActorRef
from creatorflow.runtime._backoff import Backoff
from creatorflow.runtime._child import ActorChild, Child, ChildSpec, Restart, Strategy
from creatorflow.runtime._clock import MonotonicClock, SystemMonotonicClock
from creatorflow.runtime._mailbox import MailboxStats
from creatorflow.runtime._stats import ChildStats, SupervisorStats

__all__ = ["Supervisor"]

logger = logging.getLogger("creatorflow.runtime")

M = TypeVar("M")


class _Started:
    """A ``TaskStatus`` that records the child reported started (anyio's cannot be polled)."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = anyio.Event()

    def started(self, value: object = None) -> None:
        self.event.set()


class _Slot:
    """Supervisor-side state of one child. Invariant: ``running`` is True from ``_start`` until
    the runner of incarnation ``incarnation`` recorded its ``exit``."""

    __slots__ = (
        "child",
        "done",
        "error",
        "exit",
        "finished",
        "incarnation",
        "restart",
        "restarts",
        "running",
        "scope",
        "started",
        "stop_sent",
    )

    def __init__(self, child: Child, restart: Restart) -> None:
        self.child = child
        self.restart = restart
        self.restarts = 0
        self.incarnation = 0
        self.running = False
        self.finished = False  # not restarted any more, even by a later run()
        self.stop_sent = False
        self.exit: str | None = None  # "normal" | "crashed" | "killed", until the loop reads it
        self.error: Exception | None = None
        self.scope: anyio.CancelScope | None = None  # created per incarnation, inside the loop
        self.started = _Started()
        self.done = anyio.Event()


class Supervisor:
    """Runs children in start order and keeps them running; itself a :class:`Child`.

    At most ``max_restarts`` restarts within ``within_s`` seconds (read from ``clock``); one more
    and it cancels every child and raises :class:`RestartIntensityExceeded` out of :meth:`run`
    (escalation: the parent supervisor decides). Restarts wait ``backoff.delay(n)`` on ``clock``,
    ``n`` counting restarts in the current window. Children are added before :meth:`run`.
    """

    def __init__(
        self,
        name: str,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        within_s: float = 5.0,
        backoff: Backoff | None = None,
        clock: MonotonicClock | None = None,
    ) -> None:
        if max_restarts < 0 or within_s <= 0:
            raise ValueError("supervisor needs max_restarts >= 0 and within_s > 0")
        self._name = name
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.within_s = within_s
        self._backoff = backoff if backoff is not None else Backoff(0.05, 5.0)
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonicClock()
        self._slots: list[_Slot] = []
        self._by_name: dict[str, _Slot] = {}
        self._restart_times: deque[float] = deque(maxlen=max_restarts + 1)
        self._tg: TaskGroup | None = None
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._stop_requested = False
        self._backoff_scope: anyio.CancelScope | None = None

    @property
    def name(self) -> str:
        return self._name

    # ------------------------------------------------------------------ building the tree

    def add(self, spec: ChildSpec[M]) -> ActorRef[M]:
        """Add an actor child (started after those added before); return its lasting ref.

        Raises ValueError (name taken) or RuntimeError (running), as :meth:`add_child`.
        """
        self._check_can_add(spec.name)  # before the mailbox exists: never leave one unclosed
        child: ActorChild[M] = ActorChild(spec.name, spec.factory, spec.mailbox_size)
        self.add_child(child, restart=spec.restart)
        return child.ref

    def add_child(self, child: Child, *, restart: Restart = Restart.PERMANENT) -> None:
        """Add any :class:`Child` (a nested supervisor, a registry, a service).

        Raises:
            ValueError: the name is taken.
            RuntimeError: the supervisor is running (children are fixed while it runs).
        """
        self._check_can_add(child.name)
        slot = _Slot(child, restart)
        self._slots.append(slot)
        self._by_name[child.name] = slot

    def _check_can_add(self, name: str) -> None:
        if self._tg is not None:
            raise RuntimeError(f"supervisor {self._name!r} is running; add children before run()")
        if name in self._by_name:
            raise ValueError(f"supervisor {self._name!r} already has a child {name!r}")

    def ref(self, name: str) -> ActorRef[Any]:
        """The lasting ref of actor child ``name``. Raises KeyError/TypeError."""
        child = self._by_name[name].child
        if not isinstance(child, ActorChild):
            raise TypeError(f"child {name!r} of {self._name!r} is not an actor")
        return child.ref

    def child(self, name: str) -> Child:
        """The child object (slot) called ``name``. Raises KeyError."""
        return self._by_name[name].child

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every child in order, report started, then supervise until stopped.

        Reports started only once every child reported started (each actor's ``on_start`` is
        done). Returns after :meth:`stop` drained every child; the mailboxes are then closed.

        Raises:
            RestartIntensityExceeded: too many restarts; every child was cancelled first.
            Exception: whatever a child raised while first starting (the others are cancelled).
        """
        if self._tg is not None:
            raise RuntimeError(f"supervisor {self._name!r} is already running")
        self._wake = anyio.Event()
        self._stopped = anyio.Event()
        self._restart_times.clear()
        if self._stop_requested:
            self._wake.set()
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                failure = await self._start_all()
                if failure is None:
                    task_status.started()
                    failure = await self._supervise()
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            self._stopped.set()
        if failure is not None:
            raise failure
        for slot in self._slots:
            slot.child.close()

    def request_stop(self) -> None:
        """Begin a graceful stop (see the module docstring for the order). Never blocks."""
        self._stop_requested = True
        if self._backoff_scope is not None:
            self._backoff_scope.cancel()  # a pending restart happens now, so its queue is drained
        self._wake.set()

    async def stop(self) -> None:
        """Stop gracefully and wait until :meth:`run` returned (at once if it is not running)."""
        self.request_stop()
        if self._tg is not None:
            await self._stopped.wait()

    def close(self, reason: BaseException | None = None) -> None:
        """Close every child for good (after ``run`` ended by cancellation or escalation)."""
        for slot in self._slots:
            slot.finished = True
            slot.child.close(reason)

    def stats(self) -> SupervisorStats:
        """Per-child restart counts and mailbox statistics, recursively. Never blocks."""
        return SupervisorStats(
            name=self._name,
            strategy=str(self.strategy),
            children=tuple(
                ChildStats(
                    name=slot.child.name,
                    restart=str(slot.restart),
                    restarts=slot.restarts,
                    running=slot.running,
                    detail=slot.child.stats(),
                )
                for slot in self._slots
            ),
        )

    def mailbox_stats(self) -> list[MailboxStats]:
        """Stats of every actor mailbox in the tree below this supervisor (for metrics)."""
        return [mailbox for _, mailbox in self.stats().mailboxes()]

    def restart_counts(self) -> list[tuple[str, int]]:
        """``(path, restarts)`` of every child in the tree, e.g. ``("inventory/skus", 2)``."""
        return [(path, child.restarts) for path, child in self.stats().walk()]

    # ------------------------------------------------------------------ internals

    async def _start_all(self) -> Exception | None:
        for slot in self._slots:
            if not slot.finished and not await self._start(slot) and slot.error is not None:
                logger.error("%s: child %s failed to start", self._name, slot.child.name)
                return slot.error
        return None

    async def _start(self, slot: _Slot) -> bool:
        """Start one incarnation; wait until it reported started (True) or ended (False)."""
        assert self._tg is not None
        slot.incarnation += 1
        slot.running, slot.stop_sent, slot.exit, slot.error = True, False, None, None
        slot.scope, slot.started, slot.done = anyio.CancelScope(), _Started(), anyio.Event()
        self._tg.start_soon(self._child_main, slot, slot.incarnation, name=slot.child.name)
        await slot.started.event.wait()
        return slot.running

    async def _child_main(self, slot: _Slot, incarnation: int) -> None:
        exit_, error = "normal", None
        assert slot.scope is not None
        scope = slot.scope
        with scope:
            try:
                await slot.child.run(task_status=slot.started)
            except Exception as exc:  # never BaseException: cancellation passes through
                exit_, error = "crashed", exc
                logger.error("%s: child %s crashed", self._name, slot.child.name, exc_info=exc)
        if scope.cancel_called:
            exit_ = "killed"
        if slot.incarnation == incarnation:
            slot.running, slot.exit, slot.error = False, exit_, error
            slot.started.event.set()
            slot.done.set()
            self._wake.set()

    async def _supervise(self) -> Exception | None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            for slot in list(self._slots):
                if slot.exit is not None:
                    escalation = await self._on_exit(slot)
                    if escalation is not None:
                        return escalation
            if self._stop_requested and self._advance_stop():
                return None

    def _advance_stop(self) -> bool:
        """Ask the last running child to stop; True once no child runs."""
        for slot in reversed(self._slots):
            if slot.running:
                if not slot.stop_sent:
                    slot.stop_sent = True
                    slot.child.request_stop()
                return False
        return True

    async def _on_exit(self, slot: _Slot) -> Exception | None:
        exit_, slot.exit = slot.exit, None
        if exit_ == "killed":
            return None
        if (
            slot.finished
            or slot.restart is Restart.TEMPORARY
            or (exit_ == "normal" and (slot.restart is Restart.TRANSIENT or slot.stop_sent))
        ):
            slot.finished = True
            slot.child.close()
            logger.info("%s: child %s finished (%s)", self._name, slot.child.name, exit_)
            return None
        now = self._clock.now()
        times = self._restart_times
        times.append(now)
        while times and times[0] <= now - self.within_s:
            times.popleft()
        if len(times) > self.max_restarts:
            logger.error(
                "%s: more than %d restarts within %g s; stopping all children and escalating",
                self._name,
                self.max_restarts,
                self.within_s,
            )
            return RestartIntensityExceeded(self._name, self.max_restarts, self.within_s)
        group = self._group(slot)
        for other in reversed(group):
            if other is not slot and other.running and other.scope is not None:
                other.scope.cancel()
                await other.done.wait()
        delay = self._backoff.delay(len(times) - 1)
        if delay > 0 and not self._stop_requested:
            with anyio.CancelScope() as self._backoff_scope:
                await self._clock.sleep(delay)
            self._backoff_scope = None
        for member in group:
            member.restarts += 1
            logger.warning(
                "%s: restarting %s (restart %d, after %s of %s)",
                self._name,
                member.child.name,
                member.restarts,
                exit_,
                slot.child.name,
            )
            await self._start(member)
        return None

    def _group(self, slot: _Slot) -> list[_Slot]:
        if self.strategy is Strategy.ONE_FOR_ONE or self._stop_requested:
            return [slot]
        index = self._slots.index(slot)
        candidates = self._slots if self.strategy is Strategy.ONE_FOR_ALL else self._slots[index:]
        return [s for s in candidates if s is slot or not s.finished]
