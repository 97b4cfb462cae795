"""Actors and children shared by the runtime tests (imported as ``runtime_helpers``)."""

from __future__ import annotations

from typing import Any

import anyio
from anyio.abc import TaskStatus

from creatorflow.runtime import Actor, Envelope, MailboxStats


class Boom(Exception):
    """What test actors raise to crash."""


class Probe(Actor[Any]):
    """Records its life in ``log``; understands a few tuple messages.

    ``("crash",)`` raises Boom; ``("echo", x)`` replies x; ``("wait", event)`` blocks until the
    event is set; ``("forward", ref, x)`` tells x to ref; anything else is logged and echoed.
    """

    def __init__(self, log: list[Any], tag: str = "", stop_gate: anyio.Event | None = None):
        self.log = log
        self.tag = tag
        self.stop_gate = stop_gate

    async def on_start(self) -> None:
        self.log.append(("start", self.tag))

    async def on_stop(self) -> None:
        if self.stop_gate is not None:
            await self.stop_gate.wait()
        self.log.append(("stop", self.tag))

    async def handle(self, env: Envelope[Any]) -> None:
        match env.msg:
            case ("crash", *_):
                raise Boom(self.tag)
            case ("echo", value):
                env.reply(value)
            case ("wait", event):
                await event.wait()
                env.reply("waited")
            case ("forward", ref, value):
                await ref.tell(value)
            case msg:
                self.log.append((self.tag, msg))
                env.reply(msg)


class Service:
    """A custom :class:`~creatorflow.runtime.Child` (no mailbox): a task the test steers.

    Each incarnation logs ``("start", name)``; ``crash()`` makes it raise, ``finish()`` makes it
    return normally, ``request_stop()`` too; it logs ``("exit", name)`` however it ends.
    """

    def __init__(self, name: str, log: list[Any]) -> None:
        self._name = name
        self.log = log
        self._command: anyio.Event | None = None
        self._what = ""
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._command = anyio.Event()
        self.log.append(("start", self._name))
        task_status.started()
        try:
            await self._command.wait()
            if self._what == "crash":
                raise Boom(self._name)
        finally:
            self.log.append(("exit", self._name))

    def _send(self, what: str) -> None:
        assert self._command is not None
        self._what = what
        self._command.set()

    def crash(self) -> None:
        self._send("crash")

    def finish(self) -> None:
        self._send("finish")

    def request_stop(self) -> None:
        self._send("stop")

    def close(self, reason: BaseException | None = None) -> None:
        self.closed = True

    def stats(self) -> MailboxStats | None:
        return None
