"""Pins the curated surface of ``creatorflow.runtime``: changing it is a deliberate act."""

from __future__ import annotations

import creatorflow.runtime as runtime
import creatorflow.runtime.testing as testing

EXPECTED = [
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


def test_runtime_all_is_pinned() -> None:
    assert runtime.__all__ == EXPECTED
    for name in EXPECTED:
        assert getattr(runtime, name) is not None


def test_public_names_come_from_private_modules() -> None:
    for name in EXPECTED:
        obj = getattr(runtime, name)
        if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
            assert obj.__module__.startswith("creatorflow.runtime._"), name


def test_testing_helpers_are_pinned() -> None:
    assert testing.__all__ == ["FakeClock", "ShiftedClock", "wait_all_tasks_blocked"]
