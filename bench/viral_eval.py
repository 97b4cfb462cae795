"""Viral detection benchmark: precision, recall and delay of ``SkuDetector`` on labelled streams.

Run ``python -m bench.viral_eval [--seed N[,N...]] [--streams N] [--set NAME=V]... [--json PATH]``.

Each stream is one SKU's simulated sales (and, for most, the metrics of 0-3 linked videos),
generated with a seeded ``random.Random`` in simulated milliseconds (no sleeping) and replayed
through a fresh detector with the default :class:`DetectorSettings` (or ``--set`` overrides),
as the stock watcher would drive it: ``record_sale`` per order, ``record_content`` per metrics
poll, ``advance`` after each event and on a timer at every window boundary. Every detector
starts cold (no history, ``baseline_per_hour=None``): the first hours also test the cold start.

Demand model: orders are Poisson in 15 s steps at ``base x daily x jitter x shape``; ``daily``
is 1 except where a category says so, ``jitter`` is a log-normal factor (sd 0.15) drawn per
simulated hour; an order takes 1 unit (85 %), 2 (12 %) or 3 (3 %). Low base = 6-30 units/h,
high base = 60-600 units/h (log-uniform). Videos: 500-50,000 views/h, likes 4-10 % and shares
0.3-1 % of views, noisy, polled every 3-6 min.

Categories (equal shares of ``--streams``):

* not viral (48 h each): ``steady_low``, ``steady_high``; ``organic_growth`` (x2-x5 over 1-2
  days); ``daily_peaks`` (night x0.4, day x1, evening peak x2); ``buyer_bursts`` (steady, plus
  6-12 single orders of 4-10 units); ``blips`` (steady, plus 4-8 two-minute blips, at least
  30 min apart, at x10 of the base and at least 300/h); ``content_no_sales`` (a linked
  video's views jump x10-x50 for 1-3 h, sales do not move).
* viral (spike after 6-24 h of ordinary demand with the daily curve, then 3 h of spike; peak
  multiplier x10-x30, log-uniform): ``step_low`` / ``step_high`` (a step); ``ramp_low`` /
  ``ramp_high`` (exponential ramp from x1 to the peak over 20 min, then flat); ``content_lead_low``
  / ``content_lead_high`` (a video's views jump x10-x50 10 min before sales step up);
  ``new_sku`` (a brand-new SKU: 3-12/h for 30-90 min from its first minute, then a step to
  x10-x30 and at least 120/h). In ``step_*`` and ``ramp_*`` streams a linked video spikes with
  the sales half of the time.

Scoring (alarm = a ``STARTED`` verdict, timed when the caller received it):

* on a viral stream, the first alarm in ``[spike start, spike start + 30 min]`` is a true
  positive, its delay = alarm time - spike start; no alarm in that interval is a false negative
  (an alarm later than that is late: a miss, not a false positive); every alarm before the
  spike start is a false positive; alarms after the first one at or after the start are the
  same episode and are not scored.
* on a non-viral stream every alarm is a false positive.
* precision = TP / (TP + FP); recall = TP / viral streams. Targets: precision >= 0.9, recall
  >= 0.9, median delay <= 5 simulated minutes.

Cost: the sales of a high-rate viral stream replayed through a fresh detector
(``record_sale`` + ``advance`` per sale), µs per recorded sale, median of 5 rounds.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from creatorflow.domain.velocity import DetectorSettings, SkuDetector, VerdictKind

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
STEP_MS = 15_000
TP_WINDOW_MS = 30 * MINUTE_MS
TARGET_PRECISION = 0.9
TARGET_RECALL = 0.9
TARGET_MEDIAN_MIN = 5.0

NEGATIVE = (
    "steady_low",
    "steady_high",
    "organic_growth",
    "daily_peaks",
    "buyer_bursts",
    "blips",
    "content_no_sales",
)
POSITIVE = (
    "step_low",
    "step_high",
    "ramp_low",
    "ramp_high",
    "content_lead_low",
    "content_lead_high",
    "new_sku",
)
CATEGORIES = NEGATIVE + POSITIVE

Shape = Callable[[int], float]  # ms since stream start -> multiplier


def _flat(_t: int) -> float:
    return 1.0


# --------------------------------------------------------------------------- generation


@dataclass
class Video:
    """One linked video: its views rate (per hour) over time and engagement shares."""

    video_id: str
    views_per_hour: float
    like_share: float
    share_share: float
    shape: Shape = _flat


@dataclass
class Stream:
    """A labelled stream: sales (at_ms, qty) and content samples, times from ``start_ms``."""

    category: str
    viral: bool
    base_per_hour: float
    start_ms: int
    end_ms: int
    spike_ms: int | None
    sales: list[tuple[int, int]] = field(default_factory=list)
    content: list[tuple[int, str, int, int, int]] = field(default_factory=list)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _qty(rng: random.Random) -> int:
    r = rng.random()
    return 1 if r < 0.85 else 2 if r < 0.97 else 3


def _daily(start_hour: float, amplitude: bool) -> Shape:
    """Night x0.4 (02-07 h), day x1, evening peak x2 (20-22 h), cosine transitions."""
    if not amplitude:
        return _flat
    points = [(0, 1.0), (2, 0.4), (7, 0.4), (10, 1.0), (18, 1.0), (20, 2.0), (22, 2.0), (24, 1.0)]

    def shape(t: int) -> float:
        h = (start_hour + t / HOUR_MS) % 24
        for (h0, v0), (h1, v1) in itertools.pairwise(points):
            if h0 <= h < h1:
                x = (h - h0) / (h1 - h0)
                return v0 + (v1 - v0) * (1 - math.cos(math.pi * x)) / 2
        return 1.0

    return shape


def _spike(start: int, peak: float, ramp_ms: int, length_ms: int) -> Shape:
    """x1 before ``start``; ramps (exponentially) to ``peak`` over ``ramp_ms``; flat to the end."""

    def shape(t: int) -> float:
        if t < start:
            return 1.0
        if ramp_ms and t < start + ramp_ms:
            return float(peak ** ((t - start) / ramp_ms))
        if t < start + length_ms:
            return peak
        return 1.0 + (peak - 1.0) * 0.5 ** ((t - start - length_ms) / (30 * MINUTE_MS))

    return shape


def _videos(rng: random.Random, n: int) -> list[Video]:
    return [
        Video(
            video_id=f"v{i}",
            views_per_hour=_log_uniform(rng, 500, 50_000),
            like_share=rng.uniform(0.04, 0.10),
            share_share=rng.uniform(0.003, 0.01),
        )
        for i in range(n)
    ]


def make_stream(category: str, rng: random.Random) -> Stream:
    """Draw one stream of ``category`` (see the module docstring)."""
    low = category.endswith("_low") or category == "new_sku"
    base = _log_uniform(rng, 6, 30) if low else _log_uniform(rng, 60, 600)
    if category in ("organic_growth", "daily_peaks"):
        base = _log_uniform(rng, 6, 600)
    start_ms = 1_767_225_600_000 + rng.randrange(0, DAY_MS, MINUTE_MS // 4)  # a 2026 midnight
    start_hour = ((start_ms % DAY_MS) / HOUR_MS) % 24
    viral = category in POSITIVE
    videos = _videos(rng, rng.randint(0, 3))
    shape: Shape = _flat
    bursts: list[tuple[int, int]] = []
    spike: int | None = None
    daily = _daily(start_hour, category == "daily_peaks" or (viral and rng.random() < 0.5))
    duration = 2 * DAY_MS
    if category == "organic_growth":
        growth, over = rng.uniform(2, 5), rng.uniform(1, 2) * DAY_MS

        def shape(t: int) -> float:
            return float(growth ** (min(t, over) / over))

    elif category == "buyer_bursts":
        bursts = [(rng.randrange(duration), rng.randint(4, 10)) for _ in range(rng.randint(6, 12))]
    elif category == "blips":
        # 4-8 blips at least 30 min apart (two back to back would be one 4-minute event)
        slots = rng.sample(range(2, duration // (30 * MINUTE_MS)), rng.randint(4, 8))
        blips = [k * 30 * MINUTE_MS + rng.randrange(28 * MINUTE_MS) for k in slots]
        factor = max(10.0, 300.0 / base)

        def shape(t: int) -> float:
            return factor if any(b <= t < b + 2 * MINUTE_MS for b in blips) else 1.0

    elif category == "content_no_sales":
        if not videos:
            videos = _videos(rng, 1)
        at = rng.randrange(2 * HOUR_MS, duration - 4 * HOUR_MS)
        videos[0].shape = _spike(at, _log_uniform(rng, 10, 50), 0, rng.randint(1, 3) * HOUR_MS)
    elif viral:
        peak = _log_uniform(rng, 10, 30)
        if category == "new_sku":
            spike = rng.randrange(30 * MINUTE_MS, 90 * MINUTE_MS, STEP_MS)
            base = _log_uniform(rng, 3, 12)
            peak = max(peak, 120.0 / base)
            daily = _flat
        else:
            spike = rng.randrange(6 * HOUR_MS, 24 * HOUR_MS, STEP_MS)
        duration = spike + 3 * HOUR_MS
        ramp = 20 * MINUTE_MS if category.startswith("ramp") else 0
        shape = _spike(spike, peak, ramp, 3 * HOUR_MS)
        lead = category.startswith("content_lead")
        if lead or (category != "new_sku" and rng.random() < 0.5):
            if not videos:
                videos = _videos(rng, 1)
            v_at = spike - 10 * MINUTE_MS if lead else spike
            videos[0].shape = _spike(v_at, _log_uniform(rng, 10, 50), ramp, 3 * HOUR_MS)
    stream = Stream(category, viral, base, start_ms, start_ms + duration, spike)
    _simulate(stream, rng, duration, shape, daily, bursts, videos)
    return stream


def _simulate(
    stream: Stream,
    rng: random.Random,
    duration: int,
    shape: Shape,
    daily: Shape,
    bursts: Sequence[tuple[int, int]],
    videos: Sequence[Video],
) -> None:
    jitter = [math.exp(rng.gauss(0, 0.15)) for _ in range(duration // HOUR_MS + 2)]
    step_h = STEP_MS / HOUR_MS
    sales = stream.sales
    for t in range(0, duration, STEP_MS):
        rate = stream.base_per_hour * daily(t) * jitter[t // HOUR_MS] * shape(t)
        times = sorted(t + rng.randrange(STEP_MS) for _ in range(_poisson(rng, rate * step_h)))
        sales.extend((stream.start_ms + at, _qty(rng)) for at in times)
    sales.extend((stream.start_ms + at, qty) for at, qty in bursts)
    sales.sort()
    for video in videos:
        views = likes = shares = 0.0
        poll = rng.randint(3, 6) * MINUTE_MS
        next_poll = rng.randrange(poll)
        for t in range(0, duration, STEP_MS):
            new = video.views_per_hour * video.shape(t) * step_h * math.exp(rng.gauss(0, 0.3))
            views += new
            likes += new * video.like_share * math.exp(rng.gauss(0, 0.3))
            shares += new * video.share_share * math.exp(rng.gauss(0, 0.5))
            if t >= next_poll:
                sample = (stream.start_ms + t, video.video_id, int(views), int(likes), int(shares))
                stream.content.append(sample)
                next_poll = t + poll + rng.randrange(-30_000, 30_001)
    stream.content.sort()


# --------------------------------------------------------------------------- replay


def replay(stream: Stream, settings: DetectorSettings) -> list[int]:
    """Drive a fresh detector as the stock watcher would; the times alarms were received."""
    det = SkuDetector("sku", stream.start_ms, settings)
    window_ms = settings.window_s * 1000
    alarms: list[int] = []
    sales, content = stream.sales, stream.content
    i = j = 0
    tick = (stream.start_ms // window_ms + 1) * window_ms
    while True:
        at_sale = sales[i][0] if i < len(sales) else stream.end_ms
        at_content = content[j][0] if j < len(content) else stream.end_ms
        now = min(at_sale, at_content, tick)
        if now >= stream.end_ms:
            break
        if now == tick:
            tick += window_ms
        elif now == at_sale:
            det.record_sale(now, sales[i][1])
            i += 1
        else:
            _, video, views, likes, shares = content[j]
            det.record_content(now, video, views, likes, shares)
            j += 1
        while (verdict := det.advance(now)) is not None:
            if verdict.kind is VerdictKind.STARTED:
                alarms.append(now)
    return alarms


@dataclass
class Outcome:
    category: str
    viral: bool
    tp: bool
    fp: int
    delay_min: float | None


def score(stream: Stream, alarms: Sequence[int]) -> Outcome:
    if not stream.viral or stream.spike_ms is None:
        return Outcome(stream.category, False, False, len(alarms), None)
    spike = stream.start_ms + stream.spike_ms
    fp = sum(1 for a in alarms if a < spike)
    after = [a for a in alarms if a >= spike]
    if after and after[0] - spike <= TP_WINDOW_MS:
        return Outcome(stream.category, True, True, fp, (after[0] - spike) / MINUTE_MS)
    return Outcome(stream.category, True, False, fp, None)


@dataclass
class Summary:
    seed: int
    streams: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    median_delay_min: float | None
    p90_delay_min: float | None
    per_category: dict[str, dict[str, Any]]
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            self.precision >= TARGET_PRECISION
            and self.recall >= TARGET_RECALL
            and self.median_delay_min is not None
            and self.median_delay_min <= TARGET_MEDIAN_MIN
        )


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def evaluate(seed: int, count: int, settings: DetectorSettings) -> Summary:
    rng = random.Random(seed)
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    plan = [CATEGORIES[i % len(CATEGORIES)] for i in range(count)]
    rng.shuffle(plan)
    for n, category in enumerate(plan, 1):
        stream = make_stream(category, rng)
        outcomes.append(score(stream, replay(stream, settings)))
        if n % max(1, count // 10) == 0 or n == count:
            tp = sum(o.tp for o in outcomes)
            fp = sum(o.fp for o in outcomes)
            print(
                f"  seed {seed}: {n:>4}/{count} streams, TP {tp}, FP {fp}, "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
    per: dict[str, dict[str, Any]] = {}
    for category in CATEGORIES:
        mine = [o for o in outcomes if o.category == category]
        delays = [o.delay_min for o in mine if o.delay_min is not None]
        per[category] = {
            "streams": len(mine),
            "tp": sum(o.tp for o in mine),
            "fn": sum(1 for o in mine if o.viral and not o.tp),
            "fp": sum(o.fp for o in mine),
            "fp_streams": sum(1 for o in mine if o.fp),
            "median_delay_min": statistics.median(delays) if delays else None,
            "delays_min": delays,
        }
    tp = sum(o.tp for o in outcomes)
    fp = sum(o.fp for o in outcomes)
    viral = sum(o.viral for o in outcomes)
    delays = [o.delay_min for o in outcomes if o.delay_min is not None]
    return Summary(
        seed=seed,
        streams=count,
        tp=tp,
        fp=fp,
        fn=viral - tp,
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / viral if viral else 1.0,
        median_delay_min=statistics.median(delays) if delays else None,
        p90_delay_min=_quantile(delays, 0.9),
        per_category=per,
        seconds=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- cost


def measure_cost(settings: DetectorSettings, seed: int, rounds: int = 5) -> dict[str, float]:
    """µs per recorded sale (``record_sale`` + ``advance``) on a high-rate viral stream."""
    rng = random.Random(seed)
    stream = make_stream("step_high", rng)
    while len(stream.sales) < 20_000:
        stream = make_stream("step_high", rng)
    sales = stream.sales
    per_sale: list[float] = []
    for _ in range(rounds):
        det = SkuDetector("sku", stream.start_ms, settings)
        gc.disable()
        t0 = time.perf_counter()
        for at, qty in sales:
            det.record_sale(at, qty)
            det.advance(at)
        elapsed = time.perf_counter() - t0
        gc.enable()
        per_sale.append(elapsed / len(sales) * 1e6)
    # A 10-day gap: closes in O(short_windows), not one step per window.
    det = SkuDetector("sku", 0, settings)
    det.record_sale(0, 1)
    t0 = time.perf_counter()
    det.advance(10 * DAY_MS)
    gap_us = (time.perf_counter() - t0) * 1e6
    return {
        "sales": float(len(sales)),
        "us_per_sale_median": statistics.median(per_sale),
        "us_per_sale_min": min(per_sale),
        "gap_10_days_us": gap_us,
        "gap_windows_judged": float(det.windows_closed),
    }


# --------------------------------------------------------------------------- main


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_summary(summaries: Sequence[Summary]) -> None:
    print("\nper category (all seeds pooled; delays in simulated minutes from spike start):")
    print(
        f"{'category':<18} {'streams':>7} {'TP':>5} {'FN':>4} {'FP':>4} {'FP streams':>10} "
        f"{'med':>5} {'p90':>5}"
    )
    for category in CATEGORIES:
        rows = [s.per_category[category] for s in summaries]
        delays = [d for r in rows for d in r["delays_min"]]
        print(
            f"{category:<18} {sum(r['streams'] for r in rows):>7} "
            f"{sum(r['tp'] for r in rows):>5} {sum(r['fn'] for r in rows):>4} "
            f"{sum(r['fp'] for r in rows):>4} {sum(r['fp_streams'] for r in rows):>10} "
            f"{_fmt(statistics.median(delays) if delays else None):>5} "
            f"{_fmt(_quantile(delays, 0.9)):>5}"
        )
    print(
        f"\n{'seed':>6} {'streams':>7} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} "
        f"{'recall':>6} {'med min':>7} {'p90 min':>7} {'time s':>6}  verdict"
    )
    for s in summaries:
        print(
            f"{s.seed:>6} {s.streams:>7} {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.precision:>9.3f} "
            f"{s.recall:>6.3f} {_fmt(s.median_delay_min):>7} {_fmt(s.p90_delay_min):>7} "
            f"{s.seconds:>6.1f}  {'PASS' if s.passed else 'FAIL'}"
        )
    print(
        f"targets: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}, "
        f"median delay <= {TARGET_MEDIAN_MIN} simulated min"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.viral_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", default="1", help="seed, or comma-separated seeds (default 1)")
    parser.add_argument("--streams", type=int, default=700, help="streams per seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=V",
        help="override a DetectorSettings field (repeatable), e.g. spike_ratio=4",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return parser.parse_args(argv)


def _settings(overrides: Sequence[str]) -> DetectorSettings:
    fields: dict[str, Any] = {}
    for item in overrides:
        name, _, value = item.partition("=")
        fields[name.strip()] = json.loads(value)
    return msgspec.convert(fields, DetectorSettings)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = _settings(args.set)
    seeds = [int(s) for s in args.seed.split(",")]
    print(
        f"bench.viral_eval: {args.streams} streams x seeds {seeds}; Python "
        f"{platform.python_version()}, nproc {os.cpu_count()}",
        flush=True,
    )
    if args.set:
        print(f"settings overrides: {', '.join(args.set)}")
    summaries = [evaluate(seed, args.streams, settings) for seed in seeds]
    print_summary(summaries)
    cost = measure_cost(settings, seeds[0])
    print(
        f"\ncost: {cost['us_per_sale_median']:.2f} µs per recorded sale (record_sale + advance, "
        f"median of 5 rounds over {cost['sales']:,.0f} sales; min {cost['us_per_sale_min']:.2f}); "
        f"a 10-day gap: {cost['gap_10_days_us']:.0f} µs, "
        f"{cost['gap_windows_judged']:.0f} windows judged one by one"
    )
    if args.json:
        payload = {
            "args": vars(args),
            "python": platform.python_version(),
            "settings": msgspec.to_builtins(settings),
            "summaries": [asdict(s) | {"passed": s.passed} for s in summaries],
            "cost": cost,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0 if all(s.passed for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
