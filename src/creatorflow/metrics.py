"""Prometheus metrics of one running service (names start with ``creatorflow_``).

Each :class:`Metrics` owns its own ``CollectorRegistry`` so that several services (tests) can
live in one process. Hot paths update pre-bound children (``.labels()`` resolved once); runtime
counters (mailboxes, restarts) are plain integers read at scrape time by a custom collector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from creatorflow.runtime import SupervisorStats

# ``*_created`` series double the scrape size and nobody reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

WEBHOOK_OUTCOMES: Final = (
    "accepted",
    "duplicate",
    "bad_signature",
    "malformed",
    "too_large",
    "unsupported_media_type",
    "saturated",
    "draining",
    "store_unavailable",
    "store_refused",
    "timeout",
)

_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0,
)  # fmt: skip
_MAX_CACHED_TYPES: Final = 256
_BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class RuntimeCollector(Collector):
    """Reads mailbox and supervisor counters at scrape time."""

    def __init__(self, tree: Callable[[], SupervisorStats]) -> None:
        self._tree = tree

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "creatorflow_mailbox_depth", "Messages waiting in an actor's mailbox.", labels=["actor"]
        )
        capacity = GaugeMetricFamily(
            "creatorflow_mailbox_capacity", "Mailbox capacity.", labels=["actor"]
        )
        high = GaugeMetricFamily(
            "creatorflow_mailbox_high_water", "Deepest the mailbox has been.", labels=["actor"]
        )
        sent = CounterMetricFamily(
            "creatorflow_mailbox_sent", "Messages put in the mailbox.", labels=["actor"]
        )
        handled = CounterMetricFamily(
            "creatorflow_mailbox_handled", "Messages the actor handled.", labels=["actor"]
        )
        rejected = CounterMetricFamily(
            "creatorflow_mailbox_rejected",
            "Non-blocking sends refused because the mailbox was full.",
            labels=["actor"],
        )
        tree = self._tree()
        for path, s in tree.mailboxes():
            depth.add_metric([path], s.depth)
            capacity.add_metric([path], s.capacity)
            high.add_metric([path], s.high_water)
            sent.add_metric([path], s.sent)
            handled.add_metric([path], s.handled)
            rejected.add_metric([path], s.rejected)
        restarts = CounterMetricFamily(
            "creatorflow_supervisor_restarts", "Restarts of a supervised child.", labels=["child"]
        )
        for path, child in tree.walk():
            restarts.add_metric([path], child.restarts)
        yield from (depth, capacity, high, sent, handled, rejected, restarts)


class Metrics:
    """Every metric of one service instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhook_requests = Counter(
            "creatorflow_webhook_requests",
            "Webhook requests by outcome.",
            ["outcome"],
            registry=r,
        )
        self.webhook_outcome = {o: self.webhook_requests.labels(o) for o in WEBHOOK_OUTCOMES}
        self.webhook_latency = Histogram(
            "creatorflow_webhook_latency_seconds",
            "Time from request start to the answer (every outcome).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.webhooks_by_type = Counter(
            "creatorflow_webhooks_received",
            "New (non-duplicate) webhooks stored, by topic.",
            ["type", "topic"],
            registry=r,
        )
        self.inbox_processed = Counter(
            "creatorflow_inbox_processed",
            "Inbox events marked processed by the consumer, by topic.",
            ["type", "topic"],
            registry=r,
        )
        self.inbox_handoff_overflow = Counter(
            "creatorflow_inbox_handoff_overflow",
            "Stored webhooks not handed on at once because the consumer was full (pumped later).",
            registry=r,
        )
        self.inbox_pumped = Counter(
            "creatorflow_inbox_pumped",
            "Unprocessed inbox rows re-read from the store and handed to the consumer.",
            registry=r,
        )
        self.store_batch_size = Histogram(
            "creatorflow_store_batch_size",
            "Write operations per store transaction (group commit).",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.store_commit_latency = Histogram(
            "creatorflow_store_commit_latency_seconds",
            "Duration of one store transaction, commit included.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_failures = Counter(
            "creatorflow_store_failures",
            "Store transactions that failed, by error kind.",
            ["kind"],
            registry=r,
        )
        self.order_transitions = Counter(
            "creatorflow_order_transitions",
            "Order state transitions (state machine), by from/to state.",
            ["from_state", "to_state"],
            registry=r,
        )
        self.tiktok_calls = Counter(
            "creatorflow_tiktok_calls",
            "TikTok API attempts by API and outcome.",
            ["api", "outcome"],
            registry=r,
        )
        self.tiktok_latency = Histogram(
            "creatorflow_tiktok_call_latency_seconds",
            "TikTok API attempt latency.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.breaker_state = Gauge(
            "creatorflow_circuit_breaker_state",
            "Circuit breaker state per breaker: 0 closed, 1 open, 2 half-open.",
            ["breaker"],
            registry=r,
        )
        self._received_children: dict[int, Counter] = {}
        self._processed_children: dict[int, Counter] = {}
        self.ready = Gauge("creatorflow_ready", "1 when the service accepts traffic.", registry=r)

    def count_received(self, type_: int, topic: str) -> None:
        """One new webhook of numeric ``type_`` (label children cached: hot path)."""
        self._by_type(self.webhooks_by_type, self._received_children, type_, topic).inc()

    def count_processed(self, type_: int, topic: str) -> None:
        """One inbox event processed."""
        self._by_type(self.inbox_processed, self._processed_children, type_, topic).inc()

    @staticmethod
    def _by_type(counter: Counter, cache: dict[int, Counter], type_: int, topic: str) -> Counter:
        child = cache.get(type_)
        if child is None:
            if len(cache) >= _MAX_CACHED_TYPES:
                # Senders choose type numbers: past this many distinct ones, one shared series
                # (prometheus keeps every label set forever, so this is the bound).
                return counter.labels("other", "OTHER")
            child = counter.labels(str(type_), topic)
            cache[type_] = child
        return child

    def count_store_failure(self, kind: str) -> None:
        """Observer for the store writer: a failed write (``unavailable`` or ``refused``)."""
        self.store_failures.labels(kind).inc()

    def observe_commit(self, ops: int, seconds: float) -> None:
        """Observer for the store writer: one committed batch."""
        self.store_batch_size.observe(ops)
        self.store_commit_latency.observe(seconds)

    def add_runtime_collector(self, collector: RuntimeCollector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything registered."""
        return generate_latest(self.registry)
