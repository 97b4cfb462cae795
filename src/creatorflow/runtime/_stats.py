"""Read-only snapshots of the runtime's counters, for metrics and the dashboard.

Taking a snapshot never blocks and allocates a few small frozen objects; the collector calls
``Supervisor.stats()`` at scrape time and walks the tree with :meth:`SupervisorStats.walk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from creatorflow.runtime._mailbox import MailboxStats

__all__ = ["ChildDetail", "ChildStats", "RegistryStats", "SupervisorStats"]


@dataclass(frozen=True, slots=True)
class RegistryStats:
    """Counters of a keyed-actor registry.

    ``active`` keys have a live actor; ``stopping`` ones were passivated and are finishing
    ``on_stop``. ``depth`` sums the mailbox depths of the active keys.
    """

    name: str
    active: int
    stopping: int
    max_active: int
    activations: int
    passivations: int
    evictions: int
    restarts: int
    depth: int


@dataclass(frozen=True, slots=True)
class ChildStats:
    """One child of a supervisor: its restart count and what the child itself reports."""

    name: str
    restart: str
    restarts: int
    running: bool
    detail: ChildDetail


@dataclass(frozen=True, slots=True)
class SupervisorStats:
    """A supervisor and its children, recursively through ``detail`` of nested supervisors."""

    name: str
    strategy: str
    children: tuple[ChildStats, ...]

    def walk(self, prefix: str = "") -> Iterator[tuple[str, ChildStats]]:
        """Yield ``(path, stats)`` for every child below this supervisor, depth first.

        Paths are relative to this supervisor: ``"writer"``, ``"inventory/skus"``.
        """
        for child in self.children:
            path = prefix + child.name
            yield path, child
            if isinstance(child.detail, SupervisorStats):
                yield from child.detail.walk(path + "/")

    def mailboxes(self) -> Iterator[tuple[str, MailboxStats]]:
        """Yield ``(path, MailboxStats)`` for every actor child of the tree."""
        for path, child in self.walk():
            if isinstance(child.detail, MailboxStats):
                yield path, child.detail


ChildDetail = MailboxStats | SupervisorStats | RegistryStats | None
