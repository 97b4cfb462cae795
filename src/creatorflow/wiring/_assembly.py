"""The Assembly: what capabilities install themselves into (LAYOUT "composition root").

One :class:`Assembly` per service. ``app.open_service`` opens the shared edges (store, cache,
TikTok, supplier) and hands them here; each capability's ``install(asm)`` adds its actors to
the root supervisor (in install order, which is the start order; shutdown runs in reverse),
registers the refs others need under typed :class:`Key` s, and contributes to the collectors
(saga steps, ``/api`` routes, sandbox mounts). Nothing is started until ``app`` runs the root.

Forward references (an inventory hook that tells the scheduler, installed later) go through
``asm.refs.lazy(KEY)``: a function resolved when called, after every install is done. A factory
passed to the supervisor is only called when the tree starts, so it may ``asm.refs.get`` any key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from creatorflow.config import Config
from creatorflow.domain.automation import RuleSet
from creatorflow.metrics import Metrics
from creatorflow.ports import Clock, Supplier
from creatorflow.runtime import (
    ActorRef,
    Backoff,
    ChildSpec,
    MonotonicClock,
    Strategy,
    Supervisor,
)
from creatorflow.web.api import ApiRoute
from creatorflow.web.app import Handler
from creatorflow.web.lifecycle import Lifecycle

if TYPE_CHECKING:
    from creatorflow.actors.order_scheduler import SagaStep
    from creatorflow.caching import LayeredCache
    from creatorflow.sandbox.supplier import SupplierSandbox
    from creatorflow.wiring.core import AppStore
    from creatorflow.wiring.shipping import ShippingSide
    from creatorflow.wiring.tiktok import TikTokSide

T = TypeVar("T")
M = TypeVar("M")


class Key(Generic[T]):
    """A typed name for something one capability registers and others use."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


class Refs:
    """The typed registry of refs and shared objects (one value per key, set once)."""

    def __init__(self) -> None:
        self._values: dict[Key[Any], Any] = {}

    def put(self, key: Key[T], value: T) -> T:
        """Register ``value``; returns it. Raises RuntimeError if the key is taken (a bug)."""
        if key in self._values:
            raise RuntimeError(f"{key!r} is registered twice")
        self._values[key] = value
        return value

    def get(self, key: Key[T]) -> T:
        """The value of ``key``. Raises RuntimeError when no capability registered it."""
        try:
            value: T = self._values[key]
        except KeyError:
            raise RuntimeError(f"{key!r} was never registered (capability order?)") from None
        return value

    def lazy(self, key: Key[T]) -> Callable[[], T]:
        """A function returning ``key``'s value when called (for forward references)."""
        return lambda: self.get(key)

    def has(self, key: Key[Any]) -> bool:
        return key in self._values


@dataclass
class Assembly:
    """The shared edges, the root supervisor and the collectors capabilities fill."""

    config: Config
    clock: Clock
    timer: MonotonicClock
    store: AppStore
    cache: LayeredCache
    metrics: Metrics
    tiktok: TikTokSide
    supplier: Supplier
    root: Supervisor
    rules: RuleSet
    lifecycle: Lifecycle
    shipping: ShippingSide
    supplier_sandbox: SupplierSandbox | None = None
    refs: Refs = field(default_factory=Refs)
    saga_steps: list[SagaStep] = field(default_factory=list)
    #: The ``/api`` operations (``web.api.build_api`` serves them behind the bearer token).
    api_routes: list[ApiRoute] = field(default_factory=list)
    #: ASGI apps served under a path prefix (the built-in sandboxes).
    mounts: dict[str, Handler] = field(default_factory=dict)

    def add(self, spec: ChildSpec[M]) -> ActorRef[M]:
        """Add a child to the root supervisor (started in install order)."""
        return self.root.add(spec)

    def restart_backoff(self) -> Backoff:
        """The runtime's restart backoff (``runtime.backoff_min_ms`` .. ``_max_ms``)."""
        return self.backoff_of(self.config)

    @classmethod
    def root_supervisor(cls, config: Config, timer: MonotonicClock) -> Supervisor:
        """The root of the tree: one_for_one, with the configured restart intensity."""
        rt = config.runtime
        return Supervisor(
            "root",
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=rt.restart_max,
            within_s=rt.restart_window_s,
            backoff=cls.backoff_of(config),
            clock=timer,
        )

    @staticmethod
    def backoff_of(config: Config) -> Backoff:
        """The restart backoff ``config`` sets (also the root supervisor's)."""
        rt = config.runtime
        return Backoff(min_s=rt.backoff_min_ms / 1000, max_s=rt.backoff_max_ms / 1000)

    @property
    def concurrent_commits(self) -> int:
        """Transactions in flight at once: SQLite has one writer, Postgres several."""
        store = self.config.store
        return store.pg_max_concurrent_commits if store.database_url else 1
