"""Generic actor runtime on anyio: bounded mailboxes, actors, supervisors, keyed registries,
and the resilience pieces edges share: circuit breaker, token bucket, bounded retries.

No domain words live here. Public names are re-exported from the private ``_x`` modules;
``tests/unit/runtime/test_public_api.py`` pins this surface. Test fakes live in
:mod:`creatorflow.runtime.testing`.
"""

from creatorflow.runtime._actor import Actor, ActorRef, open_actor, run_actor
from creatorflow.runtime._backoff import Backoff
from creatorflow.runtime._breaker import BreakerState, CircuitBreaker, Permit
from creatorflow.runtime._child import ActorChild, Child, ChildSpec, Restart, Strategy
from creatorflow.runtime._clock import MonotonicClock, SystemMonotonicClock
from creatorflow.runtime._keyed import KeyedLru
from creatorflow.runtime._mailbox import Envelope, Mailbox, MailboxStats, Reply
from creatorflow.runtime._published import Published
from creatorflow.runtime._rate_limit import TokenBucket
from creatorflow.runtime._registry import KeyedRef, Registry
from creatorflow.runtime._retry import DelayPolicy, ExponentialJitter, retry
from creatorflow.runtime._stats import ChildDetail, ChildStats, RegistryStats, SupervisorStats
from creatorflow.runtime._supervisor import Supervisor

__all__ = [
    "Actor",
    "ActorChild",
    "ActorRef",
    "Backoff",
    "BreakerState",
    "Child",
    "ChildDetail",
    "ChildSpec",
    "ChildStats",
    "CircuitBreaker",
    "DelayPolicy",
    "Envelope",
    "ExponentialJitter",
    "KeyedLru",
    "KeyedRef",
    "Mailbox",
    "MailboxStats",
    "MonotonicClock",
    "Permit",
    "Published",
    "Registry",
    "RegistryStats",
    "Reply",
    "Restart",
    "Strategy",
    "Supervisor",
    "SupervisorStats",
    "SystemMonotonicClock",
    "TokenBucket",
    "open_actor",
    "retry",
    "run_actor",
]
