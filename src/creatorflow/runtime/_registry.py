"""Keyed (virtual) actors: one actor per key, activated on demand, passivated when idle.

Senders address a key, never an actor instance: :meth:`Registry.ref` returns a
:class:`KeyedRef` that stays valid while the actor behind the key comes and goes.

* Activation: the first message for a key creates its mailbox and starts ``factory(key)``.
  A key has at most one live incarnation: a new one runs ``on_start`` only after the previous
  one (passivated, still draining) finished ``on_stop``.
* Passivation: after ``idle_s`` (on the injected clock) with no message sent to it and every
  message handled, the key's mailbox is removed from the table and sealed in one synchronous
  step (no await in between), so no message can slip into a mailbox nobody reads. A sender
  that raced with the seal gets ActorStopped from the old mailbox and retries on a fresh
  activation.
* Cap (``max_active``): activating a key beyond the cap evicts the least recently used key,
  preferring an idle one (every message handled). Eviction is a graceful passivation: the
  evicted actor drains what it queued, so nothing is lost, and no sender waits on another
  key's progress (waiting for a busy slot could deadlock actors that message each other). At
  most ``max_active`` passivated actors may still be draining; beyond that ``tell``/``ask``
  wait (backpressure) and ``tell_nowait``/``ask_nowait`` raise MailboxFull.
* Crashes: a key's actor is restarted on the same mailbox after ``backoff``; more than
  ``max_restarts`` crashes of one key within ``within_s`` deactivate that key (queued asks get
  ActorStopped; the next message activates it afresh, rebuilding state). One poisoned key never
  takes the others down, so the registry itself does not escalate.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup, TaskStatus

from creatorflow.errors import ActorStopped, MailboxFull
from creatorflow.runtime._actor import Actor, run_actor
from creatorflow.runtime._backoff import Backoff
from creatorflow.runtime._clock import MonotonicClock, SystemMonotonicClock
from creatorflow.runtime._mailbox import Envelope, Mailbox, Reply
from creatorflow.runtime._stats import RegistryStats

__all__ = ["KeyedRef", "Registry"]

logger = logging.getLogger("creatorflow.runtime")

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")

# A send retries when the mailbox it picked was sealed under it; each retry activates afresh,
# so a second failure means the registry is closing. The bound only guards against a bug.
_MAX_SEND_ATTEMPTS = 8


class _Entry(Generic[K, M]):
    """One incarnation line of a key: its mailbox lives until the key is passivated."""

    __slots__ = ("crashes", "done", "key", "last_active", "mailbox", "predecessor")

    def __init__(self, key: K, mailbox: Mailbox[M], now: float, max_restarts: int) -> None:
        self.key = key
        self.mailbox = mailbox
        self.last_active = now
        self.crashes: deque[float] = deque(maxlen=max_restarts + 1)
        self.predecessor: anyio.Event | None = None
        self.done = anyio.Event()


def _idle(entry: _Entry[Any, Any]) -> bool:
    """Nothing queued and nothing in hand (a drained batch may still be being handled)."""
    return entry.mailbox.handled >= entry.mailbox.sent


class KeyedRef(Generic[K, M]):
    """A lasting handle to the actor of one key; same methods as :class:`ActorRef`."""

    __slots__ = ("_registry", "key")

    def __init__(self, registry: Registry[K, M], key: K) -> None:
        self._registry = registry
        self.key = key

    async def tell(self, msg: M) -> None:
        await self._registry.tell(self.key, msg)

    def tell_nowait(self, msg: M) -> None:
        self._registry.tell_nowait(self.key, msg)

    async def ask(self, msg: M) -> Any:
        return await self._registry.ask(self.key, msg)

    def ask_nowait(self, msg: M) -> Reply[Any]:
        return self._registry.ask_nowait(self.key, msg)


class Registry(Generic[K, M]):
    """Keyed actors (see the module docstring); a supervisable :class:`Child` itself."""

    def __init__(
        self,
        name: str,
        factory: Callable[[K], Actor[M]],
        *,
        mailbox_size: int,
        max_active: int,
        idle_s: float,
        max_restarts: int = 5,
        within_s: float = 30.0,
        backoff: Backoff | None = None,
        clock: MonotonicClock | None = None,
    ) -> None:
        if max_active < 1 or mailbox_size < 1 or idle_s < 0 or max_restarts < 0:
            raise ValueError("registry needs max_active, mailbox_size >= 1 and idle_s >= 0")
        self._name = name
        self._factory = factory
        self.mailbox_size = mailbox_size
        self.max_active = max_active
        self.idle_s = idle_s
        self.max_restarts = max_restarts
        self.within_s = within_s
        self._backoff = backoff if backoff is not None else Backoff(0.05, 5.0)
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonicClock()
        self._entries: OrderedDict[K, _Entry[K, M]] = OrderedDict()  # LRU first; <= max_active
        self._stopping: dict[int, _Entry[K, M]] = {}  # passivated, draining; <= max_active
        self._last_stopping: dict[K, _Entry[K, M]] = {}
        self._freed = anyio.Event()
        self._stop_event = anyio.Event()
        self._run_done = anyio.Event()
        self._accepting = True
        self._tg: TaskGroup | None = None
        self.activations = self.passivations = self.evictions = self.restarts = 0

    @property
    def name(self) -> str:
        return self._name

    def ref(self, key: K) -> KeyedRef[K, M]:
        """A handle to ``key``'s actor; creating it does not activate anything."""
        return KeyedRef(self, key)

    # ------------------------------------------------------------------ senders

    async def tell(self, key: K, msg: M) -> None:
        """Send to ``key``, activating it if needed; waits while its mailbox is full or the
        registry is at its cap of draining actors. Raises ActorStopped once the registry stops."""
        await self._put(key, Envelope(msg))

    def tell_nowait(self, key: K, msg: M) -> None:
        """Send without waiting. Raises MailboxFull (key's mailbox or the cap) or ActorStopped."""
        self._put_nowait(key, Envelope(msg))

    async def ask(self, key: K, msg: M) -> Any:
        """Send and wait for the reply. Raises ActorCrashed or ActorStopped, as ActorRef.ask."""
        reply: Reply[Any] = Reply()
        await self._put(key, Envelope(msg, reply))
        return await reply.wait()

    def ask_nowait(self, key: K, msg: M) -> Reply[Any]:
        """Enqueue a request without waiting. Raises MailboxFull or ActorStopped."""
        reply: Reply[Any] = Reply()
        self._put_nowait(key, Envelope(msg, reply))
        return reply

    async def _put(self, key: K, env: Envelope[M]) -> None:
        # Fast path (as ActorRef.ask): a cancellation point, then enqueue without the stream's
        # awaiting send when there is room.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            entry = self._acquire_nowait(key)
            if entry is not None and entry.mailbox.offer(env):
                return
        except ActorStopped:
            if not self._accepting:
                raise
        for _ in range(_MAX_SEND_ATTEMPTS):
            entry = self._acquire_nowait(key)
            while entry is None:
                freed = self._freed
                await freed.wait()
                entry = self._acquire_nowait(key)
            try:
                await entry.mailbox.put(env)
                return
            except ActorStopped:
                continue  # sealed under us by passivation: retry on a fresh activation
        raise ActorStopped(self._name)

    def _put_nowait(self, key: K, env: Envelope[M]) -> None:
        entry = self._acquire_nowait(key)
        if entry is None:
            raise MailboxFull(self._name)
        entry.mailbox.put_nowait(env)

    def _acquire_nowait(self, key: K) -> _Entry[K, M] | None:
        """The live entry of ``key`` (activating it if there is room), or None at the cap."""
        if not self._accepting:
            raise ActorStopped(self._name)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.max_active and not self._evict():
                return None
            entry = self._activate(key)
        else:
            self._entries.move_to_end(key)
        entry.last_active = self._clock.now()
        return entry

    # ------------------------------------------------------------------ activation

    def _activate(self, key: K) -> _Entry[K, M]:
        mailbox: Mailbox[M] = Mailbox(f"{self._name}/{key}", self.mailbox_size)
        entry = _Entry(key, mailbox, self._clock.now(), self.max_restarts)
        previous = self._last_stopping.get(key)
        entry.predecessor = previous.done if previous is not None else None
        self._entries[key] = entry
        self.activations += 1
        if self._tg is not None:
            self._tg.start_soon(self._run_entry, entry)
        return entry

    def _passivate(self, entry: _Entry[K, M], *, force: bool = False) -> bool:
        """Remove-and-seal in one step; without ``force`` only an idle, current entry."""
        if self._entries.get(entry.key) is not entry:
            return False
        if not force and (not _idle(entry) or len(self._stopping) >= self.max_active):
            return False
        del self._entries[entry.key]
        self._stopping[id(entry)] = entry
        self._last_stopping[entry.key] = entry
        entry.mailbox.seal()
        self.passivations += 1
        return True

    def _evict(self) -> bool:
        if len(self._stopping) >= self.max_active:
            return False
        victim = next((e for e in self._entries.values() if _idle(e)), None)
        if victim is None:
            victim = next(iter(self._entries.values()))
        self.evictions += 1
        return self._passivate(victim, force=True)

    async def _run_entry(self, entry: _Entry[K, M]) -> None:
        if entry.predecessor is not None:
            await entry.predecessor.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_idle, entry)
            await self._run_incarnations(entry)
            tg.cancel_scope.cancel()
        self._retire(entry)

    def _retire(self, entry: _Entry[K, M]) -> None:
        entry.mailbox.close()
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        self._stopping.pop(id(entry), None)
        if self._last_stopping.get(entry.key) is entry:
            del self._last_stopping[entry.key]
        entry.done.set()
        self._freed.set()
        self._freed = anyio.Event()

    async def _run_incarnations(self, entry: _Entry[K, M]) -> None:
        while True:
            try:
                await run_actor(self._factory(entry.key), entry.mailbox)
                return
            except Exception as exc:  # never BaseException: cancellation passes through
                logger.error("%s: actor %r crashed", self._name, entry.key, exc_info=exc)
            self.restarts += 1
            now = self._clock.now()
            entry.crashes.append(now)
            while entry.crashes[0] <= now - self.within_s:
                entry.crashes.popleft()
            if len(entry.crashes) > self.max_restarts:
                logger.error(
                    "%s: actor %r crashed more than %d times within %g s; deactivated",
                    self._name,
                    entry.key,
                    self.max_restarts,
                    self.within_s,
                )
                if self._entries.get(entry.key) is entry:
                    del self._entries[entry.key]
                return
            logger.warning("%s: restarting actor %r", self._name, entry.key)
            delay = self._backoff.delay(len(entry.crashes) - 1)
            if delay > 0:
                await self._clock.sleep(delay)

    async def _watch_idle(self, entry: _Entry[K, M]) -> None:
        while True:
            remaining = entry.last_active + self.idle_s - self._clock.now()
            if remaining > 0:
                await self._clock.sleep(remaining)
            elif self._passivate(entry):
                return
            else:
                await self._clock.sleep(max(self.idle_s, 0.001))

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Host the keyed actors until stopped; reports started at once (activation is lazy).

        On :meth:`request_stop` every active actor is sealed, drains and runs ``on_stop``, then
        this returns. Cancelled, it leaves queued messages in place for the next ``run``.
        """
        if self._tg is not None:
            raise RuntimeError(f"registry {self._name!r} is already running")
        self._stop_event = anyio.Event()
        self._run_done = anyio.Event()
        if not self._accepting:
            self._stop_event.set()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for entry in list(self._entries.values()):
                    tg.start_soon(self._run_entry, entry)
                task_status.started()
                await self._stop_event.wait()
                for entry in list(self._entries.values()):
                    self._passivate(entry, force=True)
        finally:
            self._tg = None
            for entry in list(self._stopping.values()):  # only left when cancelled
                self._retire(entry)
            self._run_done.set()

    def request_stop(self) -> None:
        """Stop accepting (senders get ActorStopped) and drain every active actor."""
        self._accepting = False
        self._stop_event.set()

    async def stop(self) -> None:
        """Stop gracefully and wait until :meth:`run` returned (at once if not running)."""
        self.request_stop()
        if self._tg is not None:
            await self._run_done.wait()

    def close(self, reason: BaseException | None = None) -> None:
        """Stop for good at once: every queued ask fails with ``reason`` (ActorStopped)."""
        self._accepting = False
        self._stop_event.set()
        for entry in [*self._entries.values(), *self._stopping.values()]:
            entry.mailbox.close(reason)
        if self._tg is None:
            self._entries.clear()

    def stats(self) -> RegistryStats:
        """Counters and the summed mailbox depth of the active keys. Never blocks."""
        return RegistryStats(
            name=self._name,
            active=len(self._entries),
            stopping=len(self._stopping),
            max_active=self.max_active,
            activations=self.activations,
            passivations=self.passivations,
            evictions=self.evictions,
            restarts=self.restarts,
            depth=sum(e.mailbox.depth for e in self._entries.values()),
        )
