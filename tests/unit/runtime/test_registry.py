"""Registry: activation, idle passivation, the cap, crashes, graceful stop, boundedness."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from runtime_helpers import Probe

from creatorflow.errors import ActorCrashed, ActorStopped, MailboxFull
from creatorflow.runtime import Backoff, Registry, RegistryStats, Supervisor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


def make(
    log: list[Any],
    clock: FakeClock,
    *,
    stop_gates: dict[str, anyio.Event] | None = None,
    **kwargs: Any,
) -> Registry[str, Any]:
    gates = stop_gates if stop_gates is not None else {}
    kwargs.setdefault("mailbox_size", 4)
    kwargs.setdefault("max_active", 8)
    kwargs.setdefault("idle_s", 10.0)
    return Registry(
        "skus",
        lambda key: Probe(log, key, stop_gate=gates.get(key)),
        backoff=Backoff(0.0, 0.0),
        clock=clock,
        **kwargs,
    )


def events(log: list[Any], kind: str) -> list[str]:
    return [tag for k, tag in log if k == kind]


async def test_first_message_activates_the_key(log: list[Any]) -> None:
    reg = make(log, FakeClock())
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        assert reg.stats().active == 0
        ref = reg.ref("sku-1")
        await ref.tell("hello")
        assert await ref.ask(("echo", 3)) == 3
        assert events(log, "start") == ["sku-1"]
        stats = reg.stats()
        assert (stats.active, stats.activations) == (1, 1)
        await reg.stop()
    assert log[-1] == ("stop", "sku-1")


async def test_idle_actor_is_passivated_on_the_clock(log: list[Any]) -> None:
    clock = FakeClock()
    reg = make(log, clock, idle_s=10.0)
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("a", "m1")
        await wait_all_tasks_blocked()
        clock.advance(5.0)
        await reg.tell("a", "m2")  # activity pushes the deadline to t=15
        clock.advance(9.0)
        await wait_all_tasks_blocked()
        assert reg.stats().active == 1 and events(log, "stop") == []
        clock.advance(1.0)
        await wait_all_tasks_blocked()
        stats = reg.stats()
        assert (stats.active, stats.passivations) == (0, 1)
        assert events(log, "stop") == ["a"]
        assert await reg.ask("a", ("echo", "back")) == "back"  # reactivated on demand
        assert reg.stats().activations == 2
        await reg.stop()


async def test_new_incarnation_waits_for_the_old_one_to_stop(log: list[Any]) -> None:
    clock = FakeClock()
    gate = anyio.Event()
    reg = make(log, clock, stop_gates={"a": gate})
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("a", "first")
        await wait_all_tasks_blocked()
        clock.advance(10.0)
        await wait_all_tasks_blocked()  # passivated; on_stop is held by the gate
        reg.tell_nowait("a", "second")  # accepted at once by a fresh mailbox
        await wait_all_tasks_blocked()
        assert events(log, "start") == ["a"]  # ...but no second on_start yet
        gate.set()
        await wait_all_tasks_blocked()
        assert log == [
            ("start", "a"),
            ("a", "first"),
            ("stop", "a"),
            ("start", "a"),
            ("a", "second"),
        ]
        reg.close()


async def test_at_the_cap_the_least_recently_used_idle_key_is_evicted(log: list[Any]) -> None:
    reg = make(log, FakeClock(), max_active=2)
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("a", 1)
        await reg.tell("b", 1)
        await reg.tell("a", 2)  # b is now the least recently used
        await reg.tell("c", 1)
        await wait_all_tasks_blocked()
        assert events(log, "stop") == ["b"]
        stats = reg.stats()
        assert (stats.active, stats.evictions, stats.activations) == (2, 1, 3)
        await reg.stop()


async def test_eviction_prefers_an_idle_key_over_a_busy_one(log: list[Any]) -> None:
    reg = make(log, FakeClock(), max_active=2)
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("busy", ("wait", gate))
        await wait_all_tasks_blocked()  # busy holds the wait message
        await reg.tell("busy", "queued")
        await reg.tell("idle", 1)
        await reg.tell("idle", 2)  # busy is the LRU but has work queued
        await wait_all_tasks_blocked()
        assert reg.stats().depth == 1
        await reg.tell("new", 1)
        await wait_all_tasks_blocked()
        assert events(log, "stop") == ["idle"]
        gate.set()
        await reg.stop()
    assert [m for t, m in log if t == "busy"] == ["queued"]


async def test_evicting_a_busy_key_loses_nothing(log: list[Any]) -> None:
    reg = make(log, FakeClock(), max_active=1, mailbox_size=1)
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        reg.tell_nowait("a", ("wait", gate))
        await wait_all_tasks_blocked()
        reg.tell_nowait("a", "m2")  # a's mailbox is now full
        tg.start_soon(reg.tell, "a", "m3")  # waits for room in a's mailbox
        await wait_all_tasks_blocked()
        await reg.tell("b", "x")  # evicts busy a: sealed; the waiting m3 retries afresh
        await wait_all_tasks_blocked()
        gate.set()
        await wait_all_tasks_blocked()
        await reg.stop()
    assert [m for t, m in log if t == "a"] == ["m2", "m3"]
    assert events(log, "start").count("a") == 2


async def test_senders_wait_when_too_many_actors_are_still_stopping(log: list[Any]) -> None:
    gate = anyio.Event()
    reg = make(log, FakeClock(), max_active=1, stop_gates={"a": gate})
    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("a", 1)
        await reg.tell("b", 1)  # evicts a, whose on_stop hangs on the gate
        await wait_all_tasks_blocked()
        with pytest.raises(MailboxFull):
            reg.tell_nowait("c", 1)

        async def send_c() -> None:
            await reg.tell("c", 1)
            done.set()

        tg.start_soon(send_c)
        await wait_all_tasks_blocked()
        assert not done.is_set()
        assert reg.stats().stopping == 1
        gate.set()
        await done.wait()
        await reg.stop()
    handled = [t for t, m in log if m == 1]
    # a and b in either order (different keys: no order between them); c only after a stopped.
    assert sorted(handled[:2]) == ["a", "b"] and handled[2:] == ["c"]


async def test_crashed_key_restarts_on_the_same_mailbox(log: list[Any]) -> None:
    reg = make(log, FakeClock())
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        doomed = reg.ask_nowait("a", ("crash",))
        kept = reg.ask_nowait("a", ("echo", "kept"))
        with pytest.raises(ActorCrashed):
            await doomed.wait()
        assert await kept.wait() == "kept"
        stats = reg.stats()
        assert (stats.restarts, stats.activations) == (1, 1)
        await reg.stop()


async def test_a_key_crashing_too_often_is_deactivated(log: list[Any]) -> None:
    reg = make(log, FakeClock(), max_restarts=1, within_s=60.0)
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("other", "fine")
        first = reg.ask_nowait("a", ("crash",))
        second = reg.ask_nowait("a", ("crash",))
        stranded = reg.ask_nowait("a", ("echo", 1))
        for reply in (first, second):
            with pytest.raises(ActorCrashed):
                await reply.wait()
        with pytest.raises(ActorStopped):
            await stranded.wait()
        await wait_all_tasks_blocked()
        assert reg.stats().active == 1  # only "other"
        assert await reg.ask("a", ("echo", "fresh")) == "fresh"  # next message: afresh
        assert reg.stats().activations == 3
        assert await reg.ask("other", ("echo", 2)) == 2
        await reg.stop()


async def test_graceful_stop_drains_every_key(log: list[Any]) -> None:
    reg = make(log, FakeClock())
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        await reg.tell("a", ("wait", gate))
        await wait_all_tasks_blocked()
        await reg.tell("a", "queued")
        answer = reg.ask_nowait("b", ("echo", "b"))
        await wait_all_tasks_blocked()
        assert reg.stats().depth == 1
        tg.start_soon(reg.stop)
        await wait_all_tasks_blocked()
        with pytest.raises(ActorStopped):
            await reg.tell("c", 1)
        gate.set()
    assert await answer.wait() == "b"
    assert ("a", "queued") in log
    assert sorted(events(log, "stop")) == ["a", "b"]


async def test_active_actors_stay_within_the_cap(log: list[Any]) -> None:
    reg = make(log, FakeClock(), max_active=4)
    seen: list[RegistryStats] = []
    async with anyio.create_task_group() as tg:
        await tg.start(reg.run)
        for i in range(50):
            await reg.tell(f"k{i}", i)
            seen.append(reg.stats())
        await reg.stop()
    assert max(s.active for s in seen) == 4
    assert max(s.stopping for s in seen) <= 4
    assert seen[-1].activations == 50


async def test_registry_is_a_supervised_child(log: list[Any]) -> None:
    reg = make(log, FakeClock())
    sup = Supervisor("root", clock=FakeClock(), backoff=Backoff(0.0, 0.0))
    sup.add_child(reg)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        await reg.tell("a", 1)
        detail = sup.stats().children[0].detail
        assert isinstance(detail, RegistryStats) and detail.active == 1
        await sup.stop()
    assert events(log, "stop") == ["a"]
    with pytest.raises(ActorStopped):
        reg.tell_nowait("a", 2)


def test_registry_rejects_unbounded_settings(log: list[Any]) -> None:
    with pytest.raises(ValueError, match="max_active"):
        make(log, FakeClock(), max_active=0)
