"""The per-webhook tally: same series as prometheus_client objects would expose, bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from creatorflow.metrics import _LATENCY_BUCKETS, _MAX_CACHED_TYPES, WEBHOOK_OUTCOMES, Metrics


def lines(text: bytes, prefix: str) -> list[str]:
    return [line for line in text.decode().splitlines() if line.startswith(prefix)]


def test_latency_histogram_matches_prometheus_client() -> None:
    samples = [0.0001, 0.0005, 0.0005001, 0.004, 0.02, 2.9, 3.0, 3.5, 60.0]
    metrics = Metrics()
    for s in samples:
        metrics.webhooks.request("accepted", s)
    reference = CollectorRegistry()
    histogram = Histogram(
        "creatorflow_webhook_latency_seconds",
        "Time from request start to the answer (every outcome).",
        buckets=_LATENCY_BUCKETS,
        registry=reference,
    )
    for s in samples:
        histogram.observe(s)
    name = "creatorflow_webhook_latency_seconds"
    ours = [ln for ln in lines(metrics.render(), name) if "_created" not in ln]
    theirs = [ln for ln in lines(generate_latest(reference), name) if "_created" not in ln]
    assert ours == theirs


def test_outcomes_and_topics() -> None:
    metrics = Metrics()
    metrics.webhooks.request("duplicate", 0.001)
    metrics.count_received(1, "ORDER_STATUS_CHANGE")
    metrics.count_received(1, "ORDER_STATUS_CHANGE")
    metrics.count_processed(4242, "UNKNOWN_4242")
    text = metrics.render()
    outcomes = lines(text, "creatorflow_webhook_requests_total{")
    assert len(outcomes) == len(WEBHOOK_OUTCOMES)  # every outcome is exposed, zeros included
    assert 'creatorflow_webhook_requests_total{outcome="duplicate"} 1.0' in outcomes
    assert lines(text, "creatorflow_webhooks_received_total{") == [
        'creatorflow_webhooks_received_total{topic="ORDER_STATUS_CHANGE",type="1"} 2.0'
    ]
    assert lines(text, "creatorflow_inbox_processed_total{") == [
        'creatorflow_inbox_processed_total{topic="UNKNOWN_4242",type="4242"} 1.0'
    ]


def test_topic_series_are_bounded() -> None:
    metrics = Metrics()
    for type_ in range(_MAX_CACHED_TYPES + 10):
        metrics.count_received(type_, f"UNKNOWN_{type_}")
    metrics.count_received(0, "UNKNOWN_0")  # a known type keeps its own series
    series = lines(metrics.render(), "creatorflow_webhooks_received_total{")
    assert len(series) == _MAX_CACHED_TYPES + 1
    assert 'creatorflow_webhooks_received_total{topic="OTHER",type="other"} 10.0' in series
    assert 'creatorflow_webhooks_received_total{topic="UNKNOWN_0",type="0"} 2.0' in series
