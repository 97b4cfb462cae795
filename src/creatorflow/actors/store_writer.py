"""Store writer: the group commit of every durable write (DESIGN §1, §6.5).

Inbox:   Write (asked: the asker needs to know its ops are durable; a tell is allowed but a
         failure then only reaches the log)
Replies: ``list[WriteResult]`` for that message's ops, in order; or the ask raises
         StoreError (this message's own ops were refused; the rest of the batch committed) or
         StoreUnavailable (nothing of this batch committed; retry later, ingress answers 503)
State:   none between batches (the store holds it); only its settings and the port
Restart: permanent; nothing to rebuild. Nothing ``apply`` raises crashes it: a StoreError, or
         any other exception escaping the adapter, is isolated to the message that caused it
         (below). A bug in the writer itself does crash it, and the unanswered asks of the
         batch in hand get ActorCrashed (each message's ops committed whole or not at all).
         Cancelled mid-batch: they get ActorStopped.
Full:    ``ask``/``tell`` wait (backpressure); ``ask_nowait`` raises MailboxFull, on which
         ingress sheds load (503 + Retry-After)

Every message drained at once (up to ``batch_max_size`` ops, lingering up to
``batch_max_wait_ms`` for more) shares one ``store.apply`` call: one transaction, one fsync. A
message is never split across transactions; one larger than ``batch_max_size`` goes alone.

Poison isolation: when ``apply`` raises StoreError, the group is split in halves and each half
retried, down to single messages, so good writes still commit and only the refused message's
asker gets the error. Bisection instead of one transaction per message keeps one bad message
in a group of 1000 at about 20 transactions rather than 1000 fsyncs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeAlias, assert_never

import anyio
import msgspec

from creatorflow.errors import ActorCrashed, ActorStopped, StoreError, StoreUnavailable
from creatorflow.ports import TransactionalStore, WriteOp, WriteResult
from creatorflow.runtime import Actor, Envelope

logger = logging.getLogger(__name__)


class Write(msgspec.Struct, frozen=True, kw_only=True, tag="write"):
    """Apply ``ops`` atomically, in order, in a transaction shared with other writers.

    Reply: ``list[WriteResult]``, one per op (``InsertInbox``: ``True`` if new).
    """

    ops: tuple[WriteOp, ...]


StoreWriterMsg: TypeAlias = Write

#: Called after each commit with (ops in the transaction, seconds ``apply`` took).
CommitObserver: TypeAlias = Callable[[int, float], None]

#: Called with ``"unavailable"`` or ``"refused"`` when a write fails (see StoreWriter).
FailureObserver: TypeAlias = Callable[[str], None]

_Group: TypeAlias = list[Envelope[StoreWriterMsg]]


class StoreWriter(Actor[StoreWriterMsg]):
    """Group-commits every :class:`Write` through one :class:`TransactionalStore`.

    Args:
        store: the port (SQLite or Postgres adapter, or a fake in tests).
        batch_max_size: most ops in one transaction (``[store] batch_max_size``).
        batch_max_wait_ms: after the first message, how long to wait for more while the batch
            is not full (``[store] batch_max_wait_ms``; 0 takes only what is already queued).
        on_commit: observer for batch size and commit latency (metrics); its errors are logged.
        name: used in the error asks get when the writer is cancelled mid-batch.
        max_concurrent_commits: transactions in flight at once. 1 for SQLite (one writer by
            construction); more for Postgres, whose pool runs them on separate connections.
            With more than one, writes of different asks may commit in any order; an asker
            that needs order waits for its reply before the next write (every caller does).
        on_failure: observer told ``"unavailable"`` for a group the store could not take and
            ``"refused"`` for each write the store refused (metrics).
    """

    def __init__(
        self,
        store: TransactionalStore,
        *,
        batch_max_size: int = 1000,
        batch_max_wait_ms: float = 1.0,
        on_commit: CommitObserver | None = None,
        name: str = "store_writer",
        max_concurrent_commits: int = 1,
        on_failure: FailureObserver | None = None,
    ) -> None:
        if batch_max_size < 1:
            raise ValueError(f"batch_max_size must be >= 1, got {batch_max_size}")
        if batch_max_wait_ms < 0:
            raise ValueError(f"batch_max_wait_ms must be >= 0, got {batch_max_wait_ms}")
        if max_concurrent_commits < 1:
            raise ValueError(f"max_concurrent_commits must be >= 1, got {max_concurrent_commits}")
        self._store = store
        self._batch_max_size = batch_max_size
        self._commit_slots = anyio.Semaphore(max_concurrent_commits)
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._name = name
        # Every message holds at least one op (empty ones are answered at once), so taking
        # batch_max_size envelopes never leaves a group short of ops.
        self.max_batch = batch_max_size
        self.batch_linger_s = batch_max_wait_ms / 1000.0

    async def handle_batch(self, batch: list[Envelope[StoreWriterMsg]]) -> None:
        """Start one commit per group of at most ``batch_max_size`` ops, each in a background
        task once a commit slot is free, then return when a slot is free again.

        Waiting for a free slot before taking the next batch is what makes group commit work:
        while every slot is busy, writes queue in the mailbox and become the next, bigger group.
        Raises only on a bug (not on store errors).
        """
        for group in self._groups(batch):
            await self._commit_slots.acquire()
            try:
                self.start_background(self._commit_in_slot, group)
            except BaseException:
                self._commit_slots.release()
                raise
        await self._commit_slots.acquire()
        self._commit_slots.release()

    async def _commit_in_slot(self, group: _Group) -> None:
        try:
            await self._commit(group)
        except StoreUnavailable as err:
            logger.warning("store writer: batch not committed: %s", err)
            self._failed("unavailable")
            for env in group:
                env.fail(err)  # no-op for the ones a bisection already answered
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # Cancelled (shutdown): no asker may wait forever. Answers already given stand;
                # a cancelled apply may still have committed, which the asker's retry and the
                # inbox's dedupe make harmless.
                stopped = ActorStopped(self._name)
                for env in group:
                    env.fail(stopped)
            else:
                crash = ActorCrashed(self._name, exc)
                for env in group:
                    env.fail(crash)
            raise
        finally:
            self._commit_slots.release()

    def _groups(self, batch: list[Envelope[StoreWriterMsg]]) -> list[_Group]:
        """Cut the batch into groups of at most ``batch_max_size`` ops, keeping order."""
        groups: list[_Group] = []
        current: _Group = []
        size = 0
        for env in batch:
            match env.msg:
                case Write(ops=ops):
                    if not ops:
                        env.reply([])
                        continue
                    if current and size + len(ops) > self._batch_max_size:
                        groups.append(current)
                        current, size = [], 0
                    current.append(env)
                    size += len(ops)
                case _:
                    assert_never(env.msg)
        if current:
            groups.append(current)
        return groups

    async def _commit(self, group: _Group) -> None:
        """Apply the group's ops in one transaction and answer its askers; on StoreError,
        bisect down to the refused messages. Raises StoreUnavailable (nothing left committed
        by this call's current attempt; halves already done stay committed and answered)."""
        ops = [op for env in group for op in env.msg.ops]
        started = time.perf_counter()
        try:
            results = await self._store.apply(ops)
        except StoreUnavailable:
            raise
        except Exception as exc:
            # StoreError: the store refused something in the group. Anything else escaping
            # an adapter (a value its driver could not bind) is treated the same way, so
            # one bad write can never crash the writer and fail its batch-mates with it.
            err = exc if isinstance(exc, StoreError) else _refused(exc)
            if len(group) == 1:
                logger.error("store writer: write of %d op(s) refused: %s", len(ops), err)
                self._failed("refused")
                group[0].fail(err)
                return
            middle = len(group) // 2
            await self._commit(group[:middle])
            await self._commit(group[middle:])
            return
        elapsed = time.perf_counter() - started
        if len(results) != len(ops):
            # Answering from a misaligned list would tell callers the wrong outcome; crash.
            raise RuntimeError(f"store returned {len(results)} results for {len(ops)} ops")
        self._answer(group, results)
        if self._on_commit is not None:
            try:
                self._on_commit(len(ops), elapsed)
            except Exception:
                logger.exception("store writer: on_commit observer failed")

    def _failed(self, kind: str) -> None:
        if self._on_failure is not None:
            try:
                self._on_failure(kind)
            except Exception:
                logger.exception("store writer: on_failure observer failed")

    @staticmethod
    def _answer(group: _Group, results: list[WriteResult]) -> None:
        start = 0
        for env in group:
            end = start + len(env.msg.ops)
            env.reply(results[start:end])
            start = end


def _refused(exc: Exception) -> StoreError:
    """A StoreError standing for an unexpected exception of ``apply`` (chained)."""
    logger.error("store writer: apply raised %s; treated as refused", type(exc).__name__)
    err = StoreError(f"store refused the write: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err
