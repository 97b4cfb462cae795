"""The shape of a supervised child, and the actor slot that fills it.

A child is anything with the :class:`Child` shape (``run``/``request_stop``/``close``/``stats``):
an :class:`ActorChild` (a mailbox that outlives incarnations + a factory of fresh actors), a
nested :class:`~creatorflow.runtime.Supervisor`, a :class:`~creatorflow.runtime.Registry`, or a
custom service. The child object is the *slot*: it persists across restarts; each ``run()`` is
one incarnation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskStatus

from creatorflow.runtime._actor import Actor, ActorRef, run_actor
from creatorflow.runtime._mailbox import Mailbox, MailboxStats
from creatorflow.runtime._stats import ChildDetail

__all__ = ["ActorChild", "Child", "ChildSpec", "Restart", "Strategy"]

M = TypeVar("M")


class Restart(StrEnum):
    """When a child is restarted (Erlang restart types)."""

    PERMANENT = "permanent"  # always, whether it crashed or ended
    TRANSIENT = "transient"  # only when it crashed (raised an Exception)
    TEMPORARY = "temporary"  # never


class Strategy(StrEnum):
    """Which children are restarted when one crashes."""

    ONE_FOR_ONE = "one_for_one"  # only the crashed child
    ONE_FOR_ALL = "one_for_all"  # every child: the others are cancelled first, in reverse order
    REST_FOR_ONE = "rest_for_one"  # the crashed child and every child started after it


class Child(Protocol):
    """What a supervisor can supervise. The object is the slot; ``run()`` is one incarnation."""

    @property
    def name(self) -> str: ...

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run one incarnation: report started once ready, return after a graceful stop, raise
        an Exception on a crash. Cancellation stops it at once."""
        ...

    def request_stop(self) -> None:
        """Ask the running incarnation to finish gracefully (never blocks); ``run`` then returns."""
        ...

    def close(self, reason: BaseException | None = None) -> None:
        """Stop for good: refuse new work, fail waiting asks with ``reason``. Never blocks."""
        ...

    def stats(self) -> ChildDetail: ...


class ActorChild(Generic[M]):
    """An actor slot: a mailbox that survives restarts and a factory of fresh actors.

    ``ref`` stays valid across incarnations; ``request_stop`` seals the mailbox (the actor drains
    it, runs ``on_stop`` and its ``run`` returns).
    """

    def __init__(self, name: str, factory: Callable[[], Actor[M]], capacity: int) -> None:
        self._name = name
        self._factory = factory
        self.mailbox: Mailbox[M] = Mailbox(name, capacity)
        self.ref: ActorRef[M] = ActorRef(self.mailbox)

    @property
    def name(self) -> str:
        return self._name

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await run_actor(self._factory(), self.mailbox, task_status=task_status)

    def request_stop(self) -> None:
        self.mailbox.seal()

    def close(self, reason: BaseException | None = None) -> None:
        self.mailbox.close(reason)

    def stats(self) -> MailboxStats:
        return self.mailbox.stats()


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildSpec(Generic[M]):
    """How to build an actor child: ``factory`` makes a fresh actor for each incarnation."""

    name: str
    factory: Callable[[], Actor[M]]
    mailbox_size: int
    restart: Restart = Restart.PERMANENT
