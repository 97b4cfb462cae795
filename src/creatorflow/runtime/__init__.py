"""Generic actor runtime on anyio: bounded mailboxes, actors, supervisors, keyed registries.

No domain words live here. Public names are re-exported from the private ``_x`` modules;
``tests/unit/runtime/test_public_api.py`` pins this surface. Test fakes live in
:mod:`creatorflow.runtime.testing`.
"""

from creatorflow.runtime._actor import Actor, ActorRef, open_actor, run_actor
from creatorflow.runtime._backoff import Backoff
from creatorflow.runtime._child import ActorChild, Child, ChildSpec, Restart, Strategy
from creatorflow.runtime._clock import MonotonicClock, SystemMonotonicClock
from creatorflow.runtime._mailbox import Envelope, Mailbox, MailboxStats, Reply
from creatorflow.runtime._registry import KeyedRef, Registry
from creatorflow.runtime._stats import ChildDetail, ChildStats, RegistryStats, SupervisorStats
from creatorflow.runtime._supervisor import Supervisor

__all__ = [
    "Actor",
    "ActorChild",
    "ActorRef",
    "Backoff",
    "Child",
    "ChildDetail",
    "ChildSpec",
    "ChildStats",
    "Envelope",
    "KeyedRef",
    "Mailbox",
    "MailboxStats",
    "MonotonicClock",
    "Registry",
    "RegistryStats",
    "Reply",
    "Restart",
    "Strategy",
    "Supervisor",
    "SupervisorStats",
    "SystemMonotonicClock",
    "open_actor",
    "run_actor",
]
