"""The one error tree of CreatorFlow.

::

    CreatorFlowError
    ├── DomainError                  pure-logic refusal; never retried
    │   └── InvalidTransition        state machine refused a transition
    ├── AdapterError                 an edge (store, cache, HTTP API) failed; ``retryable`` says
    │   ├── StoreUnavailable         store cannot be reached or is locked (retryable)
    │   ├── StoreError               store refused the operation (bug or bad data; not retryable)
    │   └── CacheUnavailable         cache cannot be reached (retryable; callers degrade)
    ├── RuntimeFault                 the actor runtime
    │   ├── MailboxFull              ``tell_nowait``/``ask_nowait`` on a full mailbox (shed load)
    │   ├── ActorStopped             the target is stopped for good; nothing more is accepted
    │   ├── ActorCrashed             the actor crashed while holding the message you asked about
    │   └── RestartIntensityExceeded a supervisor gave up on its children and escalates
    ├── WebhookRejected              ingress refused a request (carries the HTTP status)
    └── ConfigError                  bad configuration; start-up stops with one clear line

Driver exceptions (sqlite3, asyncpg, redis, httpx) never leave ``adapters/``: each
adapter translates them at its boundary and chains the original (``raise X from exc``).
"""

from __future__ import annotations


class CreatorFlowError(Exception):
    """Base of every error CreatorFlow raises on purpose."""


# --------------------------------------------------------------------------- domain


class DomainError(CreatorFlowError):
    """Raised by pure domain logic when a rule refuses an operation. Never retried."""


class InvalidTransition(DomainError):
    """Raised by the order state machine for a transition it does not list."""


# --------------------------------------------------------------------------- adapters


class AdapterError(CreatorFlowError):
    """Raised by an adapter when its external system fails.

    ``retryable`` tells callers whether the same call may succeed later.
    """

    retryable: bool = False


class StoreUnavailable(AdapterError):
    """Raised by a store adapter when the database cannot be reached, is locked or timed out."""

    retryable = True


class StoreError(AdapterError):
    """Raised by a store adapter when the database refused an operation (constraint, SQL bug).

    Unlike :class:`StoreUnavailable`, retrying the same operation will fail again.
    """


class CacheUnavailable(AdapterError):
    """Raised by a cache adapter when the cache cannot be reached; callers treat it as a miss."""

    retryable = True


# --------------------------------------------------------------------------- runtime


class RuntimeFault(CreatorFlowError):
    """Base of errors raised by the actor runtime."""


class MailboxFull(RuntimeFault):
    """Raised by ``tell_nowait``/``ask_nowait`` when the target mailbox is at capacity.

    The caller sheds load (HTTP 503 + Retry-After) or retries later; ``tell`` would wait instead.
    """

    def __init__(self, actor: str) -> None:
        super().__init__(f"mailbox of {actor!r} is full")
        self.actor = actor


class ActorStopped(RuntimeFault):
    """Raised when sending to, or asking, an actor that has stopped for good.

    Differs from :class:`ActorCrashed`: a stopped actor will not come back; a crashed one is
    restarted by its supervisor, and only the message it held was lost.
    """

    def __init__(self, actor: str) -> None:
        super().__init__(f"actor {actor!r} is stopped")
        self.actor = actor


class ActorCrashed(RuntimeFault):
    """Raised to an ``ask`` caller when the actor crashed while handling that very message."""

    def __init__(self, actor: str, cause: BaseException | None = None) -> None:
        detail = f": {cause!r}" if cause is not None else ""
        super().__init__(f"actor {actor!r} crashed while handling the request{detail}")
        self.actor = actor


class RestartIntensityExceeded(RuntimeFault):
    """Raised by a supervisor whose children crashed more than N times in T seconds.

    The supervisor stops its children and escalates this to its own parent.
    """

    def __init__(self, supervisor: str, restarts: int, within_s: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r}: more than {restarts} restarts within {within_s:g} s"
        )
        self.supervisor = supervisor


# --------------------------------------------------------------------------- edges


class WebhookRejected(CreatorFlowError):
    """Raised by webhook verification/parsing; ``status`` is the HTTP answer (400/401/413/415)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class ConfigError(CreatorFlowError):
    """Raised at start-up for a bad configuration value; the message names the key."""
