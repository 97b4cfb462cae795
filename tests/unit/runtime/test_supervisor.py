"""Supervisor: start order, strategies, restart types, intensity, backoff, stop, nesting, stats."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus
from runtime_helpers import Boom, Probe, Service

from creatorflow.errors import ActorCrashed, ActorStopped, RestartIntensityExceeded
from creatorflow.runtime import (
    ActorRef,
    Backoff,
    ChildSpec,
    MailboxStats,
    Restart,
    Strategy,
    Supervisor,
    SupervisorStats,
)
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

NO_BACKOFF = Backoff(0.0, 0.0)


def make(name: str = "sup", **kwargs: Any) -> Supervisor:
    kwargs.setdefault("backoff", NO_BACKOFF)
    kwargs.setdefault("clock", FakeClock())
    return Supervisor(name, **kwargs)


def probe(
    sup: Supervisor, name: str, log: list[Any], restart: Restart = Restart.PERMANENT
) -> ActorRef[Any]:
    return sup.add(
        ChildSpec(name=name, factory=lambda: Probe(log, name), mailbox_size=8, restart=restart)
    )


def starts(log: list[Any]) -> list[str]:
    return [tag for kind, tag in log if kind == "start"]


async def crash(ref: ActorRef[Any]) -> None:
    with pytest.raises(ActorCrashed):
        await ref.ask(("crash",))
    await wait_all_tasks_blocked()  # let the supervisor restart what it restarts


def capture(sup: Supervisor, errors: list[BaseException]) -> Callable[..., Awaitable[None]]:
    """A ``tg.start`` target that keeps the supervisor's escalation instead of raising it."""

    async def runner(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await sup.run(task_status=task_status)
        except RestartIntensityExceeded as exc:
            errors.append(exc)

    return runner


async def test_reports_started_only_after_every_on_start(log: list[Any]) -> None:
    gate = anyio.Event()

    class SlowStart(Probe):
        async def on_start(self) -> None:
            await gate.wait()
            await super().on_start()

    sup = make()
    probe(sup, "a", log)
    sup.add(ChildSpec(name="b", factory=lambda: SlowStart(log, "b"), mailbox_size=4))
    probe(sup, "c", log)
    ready = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def starter() -> None:
            await tg.start(sup.run)
            ready.set()

        tg.start_soon(starter)
        await wait_all_tasks_blocked()
        assert not ready.is_set()
        assert starts(log) == ["a"]  # c waits for b: children start in order
        gate.set()
        await ready.wait()
        assert starts(log) == ["a", "b", "c"]
        await sup.stop()


async def test_ref_survives_restart_and_crash_loses_only_the_message_in_hand(
    log: list[Any],
) -> None:
    sup = make()
    ref = probe(sup, "a", log)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        doomed = ref.ask_nowait(("crash",))
        kept = ref.ask_nowait(("echo", 5))
        with pytest.raises(ActorCrashed):
            await doomed.wait()
        assert await kept.wait() == 5  # answered by the next incarnation, same mailbox
        assert await ref.ask(("echo", 6)) == 6
        assert sup.ref("a") is ref
        assert sup.stats().children[0].restarts == 1
        await sup.stop()
    assert starts(log) == ["a", "a"]


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, ["b"]),
        (Strategy.ONE_FOR_ALL, ["a", "b", "c"]),
        (Strategy.REST_FOR_ONE, ["b", "c"]),
    ],
)
async def test_strategies_restart_the_right_children(
    log: list[Any], strategy: Strategy, restarted: list[str]
) -> None:
    sup = make(strategy=strategy)
    refs = {name: probe(sup, name, log) for name in "abc"}
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        del log[:]
        await crash(refs["b"])
        assert starts(log) == restarted  # restarted in start order
        counts = dict(sup.restart_counts())
        assert counts == {n: (1 if n in restarted else 0) for n in "abc"}
        for name, ref in refs.items():
            assert await ref.ask(("echo", name)) == name
        await sup.stop()


async def test_one_for_all_kills_the_others_in_reverse_order(log: list[Any]) -> None:
    sup = make(strategy=Strategy.ONE_FOR_ALL)
    services = [Service(n, log) for n in "abc"]
    for s in services:
        sup.add_child(s)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        del log[:]
        services[0].crash()
        await wait_all_tasks_blocked()
        assert log == [
            ("exit", "a"),
            ("exit", "c"),
            ("exit", "b"),
            ("start", "a"),
            ("start", "b"),
            ("start", "c"),
        ]
        await sup.stop()


async def test_restart_types(log: list[Any]) -> None:
    sup = make()
    perm, trans, temp = Service("perm", log), Service("trans", log), Service("temp", log)
    sup.add_child(perm, restart=Restart.PERMANENT)
    sup.add_child(trans, restart=Restart.TRANSIENT)
    sup.add_child(temp, restart=Restart.TEMPORARY)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        del log[:]
        perm.finish()  # a permanent child is restarted even when it ends normally
        trans.crash()  # a transient one when it crashed
        temp.crash()  # a temporary one never
        await wait_all_tasks_blocked()
        assert sorted(starts(log)) == ["perm", "trans"]
        assert temp.closed and not perm.closed
        trans.finish()  # ...but not when it ends normally
        await wait_all_tasks_blocked()
        assert trans.closed
        running = {c.name: c.running for c in sup.stats().children}
        assert running == {"perm": True, "trans": False, "temp": False}
        await sup.stop()


async def test_temporary_actor_is_closed_for_good(log: list[Any]) -> None:
    sup = make()
    ref = probe(sup, "t", log, Restart.TEMPORARY)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        await crash(ref)
        with pytest.raises(ActorStopped):
            await ref.ask(("echo", 1))
        assert starts(log) == ["t"]
        await sup.stop()


async def test_too_many_restarts_escalate(log: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    sup = make(max_restarts=2, within_s=10.0, clock=clock)
    ref = probe(sup, "a", log)
    other = Service("b", log)
    sup.add_child(other)
    errors: list[BaseException] = []
    with caplog.at_level(logging.INFO, logger="creatorflow.runtime"):
        async with anyio.create_task_group() as tg:
            await tg.start(capture(sup, errors))
            await crash(ref)
            clock.advance(9.0)
            await crash(ref)
            assert not errors  # 2 restarts within 10 s are allowed
            await crash(ref)
    assert len(errors) == 1
    assert isinstance(errors[0], RestartIntensityExceeded)
    assert ("exit", "b") in log  # every child was stopped before escalating
    messages = [r.getMessage() for r in caplog.records if r.name == "creatorflow.runtime"]
    assert any("escalating" in m for m in messages)
    assert any("restarting a" in m for m in messages)
    assert any(r.exc_info for r in caplog.records if "crashed" in r.getMessage())
    sup.close()


async def test_restarts_spread_beyond_the_window_do_not_escalate(log: list[Any]) -> None:
    clock = FakeClock()
    sup = make(max_restarts=1, within_s=10.0, clock=clock)
    ref = probe(sup, "a", log)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        for _ in range(4):
            await crash(ref)
            clock.advance(10.0)
        assert await ref.ask(("echo", "alive")) == "alive"
        assert sup.stats().children[0].restarts == 4
        await sup.stop()


async def test_backoff_sleeps_on_the_clock_before_restarting(log: list[Any]) -> None:
    clock = FakeClock()
    sup = make(clock=clock, backoff=Backoff(2.0, 2.0, jitter=0.0))
    ref = probe(sup, "a", log)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        await crash(ref)
        await clock.wait_for_sleepers(1)
        assert clock.next_deadline == 2.0
        pending = ref.ask_nowait(("echo", 1))
        await wait_all_tasks_blocked()
        assert not pending.done and starts(log) == ["a"]  # still backing off
        clock.advance(2.0)
        assert await pending.wait() == 1
        assert starts(log) == ["a", "a"]
        await sup.stop()


async def test_stop_during_backoff_restarts_at_once_and_drains(log: list[Any]) -> None:
    clock = FakeClock()
    sup = make(clock=clock, backoff=Backoff(60.0, 60.0))
    ref = probe(sup, "a", log)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        await crash(ref)
        await clock.wait_for_sleepers(1)
        queued = ref.ask_nowait(("echo", "kept"))
        await sup.stop()  # no clock advance needed
        assert await queued.wait() == "kept"
    assert log[-1] == ("stop", "a")


async def test_graceful_stop_drains_in_reverse_start_order(log: list[Any]) -> None:
    sup = make()
    a = probe(sup, "a", log)
    b = probe(sup, "b", log)
    c = probe(sup, "c", log)
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        c.tell_nowait(("wait", gate))
        await wait_all_tasks_blocked()
        for i in range(5):  # queued behind the gate: c forwards them to b while draining
            c.tell_nowait(("forward", b, i))
        answer = a.ask_nowait(("echo", "a-answer"))
        tg.start_soon(sup.stop)
        await wait_all_tasks_blocked()
        assert ("stop", "c") not in log
        gate.set()
    assert [m for t, m in log if t == "b"] == [0, 1, 2, 3, 4]
    assert [tag for kind, tag in log if kind == "stop"] == ["c", "b", "a"]
    assert await answer.wait() == "a-answer"
    for ref in (a, b, c):
        with pytest.raises(ActorStopped):
            ref.tell_nowait("late")


async def test_nested_supervisor_escalates_to_its_parent(log: list[Any]) -> None:
    root = make("root")
    inner = make("inner", max_restarts=0)
    x = probe(inner, "x", log)
    probe(root, "w", log)
    root.add_child(inner)
    async with anyio.create_task_group() as tg:
        await tg.start(root.run)
        await crash(x)  # inner cannot restart: it escalates; root restarts inner
        assert await x.ask(("echo", "same ref")) == "same ref"
        assert dict(root.restart_counts()) == {"w": 0, "inner": 1, "inner/x": 0}
        await root.stop()
    assert starts(log) == ["w", "x", "x"]
    assert log[-2:] == [("stop", "x"), ("stop", "w")]


async def test_stats_walk_the_tree(log: list[Any]) -> None:
    root = make("root")
    inner = make("inner", strategy=Strategy.REST_FOR_ONE)
    probe(root, "w", log)
    probe(inner, "x", log)
    root.add_child(inner)
    async with anyio.create_task_group() as tg:
        await tg.start(root.run)
        await root.ref("w").ask(("echo", 1))
        stats = root.stats()
        assert isinstance(stats, SupervisorStats)
        assert [path for path, _ in stats.walk()] == ["w", "inner", "inner/x"]
        nested = stats.children[1].detail
        assert isinstance(nested, SupervisorStats) and nested.strategy == "rest_for_one"
        mailboxes = {m.name: m for m in root.mailbox_stats()}
        assert set(mailboxes) == {"w", "x"}
        assert isinstance(mailboxes["w"], MailboxStats) and mailboxes["w"].handled == 1
        await root.stop()


async def test_a_child_failing_to_start_fails_the_supervisor(log: list[Any]) -> None:
    class BadStart(Probe):
        async def on_start(self) -> None:
            raise Boom("no store")

    sup = make()
    first = Service("first", log)
    sup.add_child(first)
    sup.add(ChildSpec(name="bad", factory=lambda: BadStart(log), mailbox_size=4))
    with pytest.raises(Boom):
        await sup.run()
    assert log == [("start", "first"), ("exit", "first")]
    sup.close()


async def test_cancellation_passes_through_without_restarts(log: list[Any]) -> None:
    sup = make()
    probe(sup, "a", log)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        tg.cancel_scope.cancel()
    assert sup.stats().children[0].restarts == 0
    assert starts(log) == ["a"]
    sup.close()


async def test_children_are_fixed_while_running(log: list[Any]) -> None:
    sup = make()
    probe(sup, "a", log)
    with pytest.raises(ValueError, match="already has"):
        probe(sup, "a", log)
    sup.add_child(Service("svc", log))
    with pytest.raises(TypeError):
        sup.ref("svc")
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        with pytest.raises(RuntimeError):
            probe(sup, "late", log)
        await sup.stop()
