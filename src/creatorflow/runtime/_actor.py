"""Actors and references to them.

An :class:`Actor` owns its state and handles messages one batch at a time from its
:class:`~creatorflow.runtime._mailbox.Mailbox`. Others hold an :class:`ActorRef`:

* ``tell(msg)`` waits while the mailbox is full (backpressure); ``tell_nowait`` raises
  :class:`~creatorflow.errors.MailboxFull` instead, so the caller can shed load.
* ``ask(msg)`` waits for the reply; it raises :class:`~creatorflow.errors.ActorCrashed` if the
  actor crashed on that message, :class:`~creatorflow.errors.ActorStopped` if the actor is gone.
  It takes no timeout: callers set deadlines with ``anyio.fail_after``.

The loop (:func:`run_actor`) drains whatever is buffered (``receive_nowait`` until empty) instead
of taking one message per event-loop pass: an actor hop then costs a few microseconds, and the
actor sees natural batches (``handle_batch``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Final, Generic, TypeVar, cast

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup, TaskStatus

from creatorflow.errors import ActorStopped
from creatorflow.runtime._mailbox import Envelope, Mailbox, Reply, crashed

M = TypeVar("M")

#: The barrier message of :meth:`ActorRef.flush`; never reaches an actor's handlers.
_FLUSH: Final = object()


class Actor(Generic[M]):
    """Base class of every actor.

    Override :meth:`handle` (one message) or :meth:`handle_batch` (everything drained at once,
    e.g. to share one store transaction). :meth:`on_start` runs before the actor is reported
    ready (rebuild state from the store there); :meth:`on_stop` runs after a graceful drain.
    """

    #: Most envelopes taken from the mailbox at once.
    max_batch: int = 512
    #: After the first envelope, how long to wait for more before handling (0: take what is
    #: already buffered and go). Used by the store writer's group commit.
    batch_linger_s: float = 0.0

    #: Task group of the running incarnation (set by :func:`run_actor`); see start_background.
    _background: TaskGroup | None = None
    _bg_seq: int = 0
    _bg_running: set[int]
    _bg_barriers: list[tuple[int, Envelope[Any]]]
    _daemons: list[anyio.CancelScope]

    def start_daemon(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Like :meth:`start_background`, for a loop that never ends by itself (a timer).

        A graceful stop cancels it once the mailbox is drained, instead of waiting for it;
        ``flush()`` does not wait for it. Raises RuntimeError when the actor is not running.
        """
        if self._background is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        scope = anyio.CancelScope()
        self._daemons.append(scope)

        async def daemon() -> None:
            with scope:
                await fn(*args)

        self._background.start_soon(daemon)

    def start_background(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in a task that lives no longer than this incarnation. Never blocks.

        For work the actor must not wait for inline (e.g. several commits in flight). The actor
        bounds how many it starts (a semaphore). The task's exception crashes the actor; a
        graceful stop waits for it before ``on_stop``; a crash or cancel cancels it, so the
        task itself must answer (or fail) any ask it carries when it is cancelled. A
        ``flush()`` returns only after the background tasks started before it have finished.

        Raises:
            RuntimeError: the actor is not running.
        """
        if self._background is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        self._bg_seq += 1
        self._bg_running.add(self._bg_seq)
        self._background.start_soon(self._tracked, self._bg_seq, fn, args)

    async def _tracked(
        self, seq: int, fn: Callable[..., Coroutine[Any, Any, Any]], args: tuple[Any, ...]
    ) -> None:
        try:
            await fn(*args)
        finally:
            self._bg_running.discard(seq)
            self._release_barriers()

    def _barrier(self, env: Envelope[Any]) -> None:
        """Answer a flush now, or once the background tasks started so far have finished."""
        if self._bg_running:
            self._bg_barriers.append((self._bg_seq, env))
        else:
            env.reply(None)

    def _release_barriers(self) -> None:
        if not self._bg_barriers:
            return
        oldest = min(self._bg_running, default=self._bg_seq + 1)
        keep: list[tuple[int, Envelope[Any]]] = []
        for mark, env in self._bg_barriers:
            if mark < oldest:
                env.reply(None)
            else:
                keep.append((mark, env))
        self._bg_barriers = keep

    async def before_flush(self) -> None:
        """Called before a ``flush()`` is answered, and once the mailbox is drained at a
        graceful stop: start work the actor holds back on purpose (e.g. coalescing), so the
        flush (or the stop) also covers it. Default: nothing."""

    async def on_start(self) -> None:
        """Called once per incarnation, before the actor is reported started."""

    async def on_stop(self) -> None:
        """Called after the mailbox was sealed and drained (graceful stop only)."""

    async def handle(self, env: Envelope[M]) -> None:
        """Handle one message. Raising crashes the actor; only this message is lost."""
        raise NotImplementedError(f"{type(self).__name__} must override handle or handle_batch")

    async def handle_batch(self, batch: list[Envelope[M]]) -> None:
        """Handle every envelope drained at once. The default calls :meth:`handle` in order.

        An override that raises loses the whole batch: every unanswered ``ask`` in it gets
        :class:`~creatorflow.errors.ActorCrashed`.
        """
        for env in batch:
            await self.handle(env)


class ActorRef(Generic[M]):
    """A handle to an actor's mailbox; valid across restarts of the actor behind it."""

    __slots__ = ("_mailbox", "name")

    def __init__(self, mailbox: Mailbox[M]) -> None:
        self._mailbox = mailbox
        self.name = mailbox.name

    @property
    def mailbox(self) -> Mailbox[M]:
        return self._mailbox

    async def tell(self, msg: M) -> None:
        """Send, waiting while the mailbox is full. Raises ActorStopped."""
        await self._mailbox.put(Envelope(msg))

    def tell_nowait(self, msg: M) -> None:
        """Send without waiting. Raises MailboxFull or ActorStopped."""
        self._mailbox.put_nowait(Envelope(msg))

    async def ask(self, msg: M) -> Any:
        """Send and wait for the reply.

        Raises:
            ActorCrashed: the actor crashed while handling this message.
            ActorStopped: the actor stopped before answering.
        """
        reply: Reply[Any] = Reply()
        env = Envelope(msg, reply)
        # Waiting for the reply is the checkpoint; only a full mailbox makes us wait to enqueue.
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._mailbox.offer(env):
            await self._mailbox.put(env)
        return await reply.wait()

    async def flush(self) -> None:
        """Wait until every message sent before this call has been handled (or lost in a crash).

        A barrier through the mailbox, answered by the runtime itself, not the actor: meant for
        tests and for shutdown ordering. Waits while the mailbox is full. Raises ActorStopped.
        """
        reply: Reply[Any] = Reply()
        self._mailbox.flushes_pending += 1
        try:
            await self._mailbox.put(Envelope(cast(M, _FLUSH), reply))
        except BaseException:
            self._mailbox.flushes_pending -= 1
            raise
        await reply.wait()

    async def request(self, msg: M) -> Reply[Any]:
        """Enqueue a request, waiting only while the mailbox is full; return its reply slot.

        For a sender with several requests in flight: enqueue them all, then await each
        ``.wait()``. Raises ActorStopped.
        """
        reply: Reply[Any] = Reply()
        env = Envelope(msg, reply)
        if not self._mailbox.offer(env):
            await self._mailbox.put(env)
        return reply

    def ask_nowait(self, msg: M) -> Reply[Any]:
        """Enqueue a request without waiting; await ``.wait()`` on the result for the answer.

        Raises MailboxFull or ActorStopped at once when the request cannot be enqueued.
        """
        reply: Reply[Any] = Reply()
        self._mailbox.put_nowait(Envelope(msg, reply))
        return reply

    def __repr__(self) -> str:
        return f"<ActorRef {self.name} depth={self._mailbox.depth}/{self._mailbox.capacity}>"


def _overrides_batch(actor: Actor[Any]) -> bool:
    return type(actor).handle_batch is not Actor.handle_batch


async def run_actor(
    actor: Actor[M],
    mailbox: Mailbox[M],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``actor`` on ``mailbox`` until the mailbox is sealed and drained, or cancelled.

    Reports started (``task_status``) after ``on_start``. An exception from the actor propagates
    (the supervisor decides what to do): unanswered asks in hand get ActorCrashed; envelopes
    taken but not yet handled go back to the mailbox for the next incarnation.
    """
    try:
        async with anyio.create_task_group() as background:
            actor._background = background
            actor._bg_running = set()
            actor._bg_barriers = []
            actor._daemons = []
            try:
                await _serve(actor, mailbox, task_status)
            finally:
                actor._background = None
                for scope in actor._daemons:
                    scope.cancel()
    except BaseExceptionGroup as group:
        # The incarnation's task group wraps what failed; a lone error (the usual case) is
        # re-raised as itself so supervisors and callers see the actor's own exception.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group.exceptions[0].__cause__
        raise
    finally:
        # Flushes still waiting on background work that a crash or cancel ended: that work is
        # over (lost), so their wait is over too.
        for _, env in getattr(actor, "_bg_barriers", ()):
            env.reply(None)
        actor._bg_barriers = []
    await actor.on_stop()


async def _serve(actor: Actor[M], mailbox: Mailbox[M], task_status: TaskStatus[None]) -> None:
    await actor.on_start()
    task_status.started()
    whole_batch = _overrides_batch(actor)
    while True:
        try:
            batch = await mailbox.take_batch(actor.max_batch, actor.batch_linger_s)
        except ActorStopped:
            await actor.before_flush()  # a graceful stop flushes held-back work too
            break
        if mailbox.flushes_pending:
            barriers = [env for env in batch if env.msg is _FLUSH]
            if barriers:
                batch = [env for env in batch if env.msg is not _FLUSH]
                try:
                    if batch:
                        await _handle(actor, mailbox, batch, whole_batch)
                    await actor.before_flush()
                finally:
                    mailbox.flushes_pending -= len(barriers)
                    for env in barriers:
                        actor._barrier(env)
                continue
        await _handle(actor, mailbox, batch, whole_batch)


async def _handle(
    actor: Actor[M], mailbox: Mailbox[M], batch: list[Envelope[M]], whole_batch: bool
) -> None:
    if whole_batch:
        try:
            await actor.handle_batch(batch)
        except Exception as exc:
            err = crashed(mailbox.name, exc)
            for env in batch:
                if not env.answered:
                    env.fail(err)
            raise
        except BaseException:
            # Cancelled mid-batch: nobody will answer these asks any more.
            stopped = ActorStopped(mailbox.name)
            for env in batch:
                if not env.answered:
                    env.fail(stopped)
            raise
        finally:
            mailbox.handled += len(batch)
        return
    index = 0
    try:
        for index, env in enumerate(batch):  # noqa: B007 - index is read in except
            await actor.handle(env)
            mailbox.handled += 1
    except Exception as exc:
        mailbox.handled += 1
        batch[index].fail(crashed(mailbox.name, exc))
        mailbox.requeue(batch[index + 1 :])
        raise
    except BaseException:
        # Cancelled mid-batch: keep what was not handled yet for whoever runs next; the
        # message in hand is lost, so its asker must not wait forever.
        batch[index].fail(ActorStopped(mailbox.name))
        mailbox.requeue(batch[index + 1 :])
        raise


@asynccontextmanager
async def open_actor(actor: Actor[M], name: str, capacity: int) -> AsyncIterator[ActorRef[M]]:
    """Run one unsupervised actor for the duration of the block (tests, tools).

    On exit the mailbox is sealed and drained, then the actor's ``on_stop`` runs. A crash of the
    actor propagates out of the block.
    """
    mailbox: Mailbox[M] = Mailbox(name, capacity)
    async with anyio.create_task_group() as tg:
        await tg.start(_run_sealing, actor, mailbox)
        try:
            yield ActorRef(mailbox)
        finally:
            mailbox.seal()


async def _run_sealing(
    actor: Actor[M], mailbox: Mailbox[M], *, task_status: TaskStatus[None]
) -> None:
    try:
        await run_actor(actor, mailbox, task_status=task_status)
    finally:
        mailbox.close()
