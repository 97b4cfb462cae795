"""Lifecycle flags shared by the composition root and the HTTP layer.

``ready`` turns on when the actor tree has started; ``draining`` turns on at SIGTERM, after which
webhooks get 503 + Retry-After. ``in_flight`` counts webhook requests between the moment they
were admitted and their answer, so shutdown can wait for them before stopping the actors.
"""

from __future__ import annotations

import anyio


class Lifecycle:
    """Mutable flags; read on every request, so plain attributes."""

    def __init__(self) -> None:
        self.ready = False
        self.draining = False
        self.in_flight = 0
        self._idle: anyio.Event | None = None

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no admitted webhook request is waiting for its answer."""
        while self.in_flight:
            self._idle = anyio.Event()
            await self._idle.wait()
        self._idle = None

    @property
    def accepting(self) -> bool:
        return self.ready and not self.draining
