"""Bounded mailboxes and one-shot replies: the only way actors talk.

A :class:`Mailbox` belongs to a supervisor's child slot, not to an actor instance: it outlives
restarts, so an :class:`~creatorflow.runtime.ActorRef` stays valid while its actor is restarted.
Its capacity is fixed at creation; nothing in the runtime is unbounded.

Statistics are plain integer counters updated on the hot path (no locks, no metric objects);
the metrics collector reads them at scrape time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from creatorflow.errors import ActorCrashed, ActorStopped, MailboxFull

T = TypeVar("T")

_PENDING = object()


class Reply(Generic[T]):
    """A one-shot answer slot: set once by the actor, awaited once by the asker.

    ``set``/``fail`` never block and may be called from any task of the same event loop; a
    second call is ignored (the first answer wins), and so is an answer that comes after the
    asker stopped waiting (cancelled).

    On asyncio the slot is a bare future of the running loop (about 5x cheaper to make than an
    ``anyio.Event``, and this sits on every request's path); elsewhere (trio) an anyio Event.
    """

    __slots__ = ("_error", "_event", "_future", "_value")

    def __init__(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._future: asyncio.Future[T] | None = None if loop is None else loop.create_future()
        self._event: anyio.Event | None = anyio.Event() if loop is None else None
        self._value: Any = _PENDING
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        future = self._future
        if future is not None:
            if not future.done():
                future.set_result(value)
        elif self._value is _PENDING and self._error is None:
            self._value = value
            assert self._event is not None
            self._event.set()

    def fail(self, error: BaseException) -> None:
        future = self._future
        if future is not None:
            if not future.done():
                future.set_exception(error)
        elif self._value is _PENDING and self._error is None:
            self._error = error
            assert self._event is not None
            self._event.set()

    @property
    def done(self) -> bool:
        """True once answered, or once the asker stopped waiting."""
        if self._future is not None:
            return self._future.done()
        assert self._event is not None
        return self._event.is_set()

    async def wait(self) -> T:
        """Wait for the answer (a checkpoint); raise the error the actor reported, if any."""
        if self._future is not None:
            return await self._future
        assert self._event is not None
        await self._event.wait()
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


class Envelope(Generic[T]):
    """A message in a mailbox, with the reply slot of an ``ask`` (``None`` for a ``tell``)."""

    __slots__ = ("_reply", "msg")

    def __init__(self, msg: T, reply: Reply[Any] | None = None) -> None:
        self.msg = msg
        self._reply = reply

    @property
    def wants_reply(self) -> bool:
        return self._reply is not None

    def reply(self, value: Any) -> None:
        """Answer an ``ask`` (no-op for a ``tell``). Never blocks."""
        if self._reply is not None:
            self._reply.set(value)

    def fail(self, error: BaseException) -> None:
        """Make the asker's ``ask`` raise ``error`` (no-op for a ``tell``). Never blocks."""
        if self._reply is not None:
            self._reply.fail(error)

    @property
    def answered(self) -> bool:
        return self._reply is None or self._reply.done


@dataclass(frozen=True, slots=True)
class MailboxStats:
    """A snapshot of one mailbox's counters."""

    name: str
    capacity: int
    depth: int
    high_water: int
    sent: int
    handled: int
    rejected: int


class Mailbox(Generic[T]):
    """A bounded FIFO of envelopes with one consumer (the actor of its slot).

    ``put`` waits while full (backpressure); ``put_nowait`` raises :class:`MailboxFull`.
    Both raise :class:`ActorStopped` once the mailbox is closed.

    Taken-but-unhandled envelopes (the rest of a batch when an actor crashes) go back to a small
    ``requeue`` buffer that the next incarnation reads first, so a crash loses only the message
    in hand.
    """

    def __init__(self, name: str, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("mailbox capacity must be >= 1")
        self.name = name
        self.capacity = capacity
        send, recv = anyio.create_memory_object_stream[Envelope[T]](capacity)
        self._send: MemoryObjectSendStream[Envelope[T]] = send
        self._recv: MemoryObjectReceiveStream[Envelope[T]] = recv
        self._requeued: deque[Envelope[T]] = deque()  # bounded: holds at most one batch
        self.sent = 0
        self.taken = 0
        self.handled = 0
        self.rejected = 0
        self.high_water = 0
        #: Flush barriers sent and not yet answered (see ``ActorRef.flush``).
        self.flushes_pending = 0
        self.closed = False
        self._recv_closed = False
        self._close_error: BaseException | None = None
        # The consumer's wait for a first envelope: a bare future on asyncio (an anyio Event
        # elsewhere), set by the next sender. Cheaper than waiting in the stream's receive(),
        # which checkpoints first and builds an event and a task record on every wait: this is
        # paid once per wake-up, i.e. per message for an actor that is usually idle.
        self._waiter: asyncio.Future[None] | anyio.Event | None = None

    # ------------------------------------------------------------------ senders

    def put_nowait(self, env: Envelope[T]) -> None:
        """Enqueue without waiting. Raises MailboxFull or ActorStopped."""
        try:
            self._send.send_nowait(env)
        except anyio.WouldBlock:
            self.rejected += 1
            raise MailboxFull(self.name) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ActorStopped(self.name) from None
        self._count_sent()
        self._wake()

    def offer(self, env: Envelope[T]) -> bool:
        """Enqueue if there is room (True) without waiting or counting a rejection (False).

        Raises ActorStopped when closed. For senders that fall back to :meth:`put` when full.
        """
        try:
            self._send.send_nowait(env)
        except anyio.WouldBlock:
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ActorStopped(self.name) from None
        self._count_sent()
        self._wake()
        return True

    async def put(self, env: Envelope[T]) -> None:
        """Enqueue, waiting while the mailbox is full (a checkpoint). Raises ActorStopped."""
        try:
            await self._send.send(env)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise ActorStopped(self.name) from None
        self._count_sent()
        self._wake()

    def _wake(self) -> None:
        """Wake the consumer if it waits for a first envelope."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if isinstance(waiter, anyio.Event):
                waiter.set()
            elif not waiter.done():
                waiter.set_result(None)

    async def _wait_nonempty(self) -> None:
        """Wait until a sender puts something or the mailbox closes (a cancellation point)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        waiter: asyncio.Future[None] | anyio.Event = (
            anyio.Event() if loop is None else loop.create_future()
        )
        self._waiter = waiter
        try:
            if isinstance(waiter, anyio.Event):
                await waiter.wait()
            else:
                await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def _count_sent(self) -> None:
        self.sent += 1
        depth = self.sent - self.taken
        if depth > self.high_water:
            self.high_water = depth

    # ------------------------------------------------------------------ the consumer

    async def take_batch(self, max_items: int, linger_s: float = 0.0) -> list[Envelope[T]]:
        """Wait for at least one envelope, then take whatever is buffered, up to ``max_items``.

        Draining what is already there costs a few microseconds per message and hands the
        actor natural batches. With ``linger_s > 0`` it then keeps collecting for up to that long
        while the batch is not full (group commit). Raises ActorStopped when closed and empty.
        """
        batch: list[Envelope[T]] = []
        while self._requeued and len(batch) < max_items:
            batch.append(self._requeued.popleft())
        recv = self._recv
        if not batch:
            try:
                batch.append(recv.receive_nowait())
            except anyio.WouldBlock:
                while not batch:  # idle: wait for a sender (nothing taken while waiting)
                    await self._wait_nonempty()
                    try:
                        batch.append(recv.receive_nowait())
                    except anyio.WouldBlock:
                        continue
                    except (anyio.EndOfStream, anyio.ClosedResourceError):
                        raise ActorStopped(self.name) from None
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise ActorStopped(self.name) from None
            else:
                # Busy: let other tasks run; a cancellation point (as receive() was), and the
                # envelope just taken goes back to the front if we are cancelled here.
                try:
                    await anyio.lowlevel.checkpoint()
                except BaseException:
                    self.taken += 1
                    self.requeue(batch)
                    raise
                if self._recv_closed:  # closed for good while we yielded: fail it as close() did
                    self.taken += 1
                    batch[0].fail(self._close_error or ActorStopped(self.name))
                    raise ActorStopped(self.name)
            self.taken += 1
        try:
            while len(batch) < max_items:
                batch.append(recv.receive_nowait())
                self.taken += 1
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        if linger_s > 0 and len(batch) < max_items:
            try:
                with anyio.move_on_after(linger_s):
                    while len(batch) < max_items:
                        try:
                            batch.append(await recv.receive())
                        except (anyio.EndOfStream, anyio.ClosedResourceError):
                            break
                        self.taken += 1
            except BaseException:
                # Cancelled while lingering: what was taken is nobody's yet, so give it back
                # for the next incarnation instead of dropping it (and stranding its asks).
                self.requeue(batch)
                raise
        return batch

    def take_nowait(self) -> Envelope[T]:
        """Take one envelope without waiting; raises anyio.WouldBlock when empty."""
        if self._requeued:
            return self._requeued.popleft()
        try:
            env = self._recv.receive_nowait()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise anyio.WouldBlock from None
        self.taken += 1
        return env

    def requeue(self, envs: list[Envelope[T]]) -> None:
        """Give back taken-but-unhandled envelopes; they come out first, in order."""
        self._requeued.extendleft(reversed(envs))

    @property
    def depth(self) -> int:
        # A sender that waited on a full mailbox counts its message after the consumer already
        # took it, so the difference can be -1 for a moment; never report that.
        return max(0, self.sent - self.taken) + len(self._requeued)

    def stats(self) -> MailboxStats:
        return MailboxStats(
            name=self.name,
            capacity=self.capacity,
            depth=self.depth,
            high_water=self.high_water,
            sent=self.sent,
            handled=self.handled,
            rejected=self.rejected,
        )

    # ------------------------------------------------------------------ end of life

    def seal(self) -> None:
        """Stop accepting new messages but let the consumer drain what is queued.

        Senders get :class:`ActorStopped`; the consumer's ``take_batch`` raises it once the queue
        is empty. Used for graceful shutdown ("drain mailboxes").
        """
        self.closed = True
        self._send.close()
        self._wake()  # the consumer sees the end of the stream once it is empty

    def close(self, reason: BaseException | None = None) -> None:
        """Stop accepting; fail every waiting ``ask`` with ``reason`` (default ActorStopped)."""
        if self._recv_closed:
            return
        self.closed = True
        self._recv_closed = True
        self._send.close()
        error = reason if reason is not None else ActorStopped(self.name)
        self._close_error = error
        for env in self._drain_all():
            env.fail(error)
        self._recv.close()
        self._wake()

    def _drain_all(self) -> Iterator[Envelope[T]]:
        while self._requeued:
            yield self._requeued.popleft()
        while True:
            try:
                env = self._recv.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            self.taken += 1
            yield env


def crashed(name: str, cause: BaseException) -> ActorCrashed:
    """The error an asker sees when the actor crashed on its message."""
    err = ActorCrashed(name, cause)
    err.__cause__ = cause
    return err
