"""Viral detector: steady, spikes, bursts, the low-count floor, gaps, content, cold start."""

from __future__ import annotations

import itertools
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creatorflow.domain.velocity import (
    DEFAULT_SETTINGS,
    DetectorSettings,
    SkuDetector,
    Verdict,
    VerdictKind,
)

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_767_225_600_000  # a midnight: window-aligned
STARTED, ENDED = VerdictKind.STARTED, VerdictKind.ENDED


def drain(det: SkuDetector, now_ms: int) -> list[Verdict]:
    out = []
    while (verdict := det.advance(now_ms)) is not None:
        out.append(verdict)
    return out


def sell(
    det: SkuDetector, start_ms: int, end_ms: int, per_minute: int, qty: int = 1
) -> list[Verdict]:
    """``per_minute`` evenly spaced sales in ``[start_ms, end_ms)``, advancing after each."""
    out: list[Verdict] = []
    if per_minute == 0:
        return drain(det, end_ms)
    step = MIN // per_minute
    for at in range(start_ms, end_ms, step):
        det.record_sale(at, qty)
        out += drain(det, at)
    return out + drain(det, end_ms)


def warm(per_minute: int = 1) -> SkuDetector:
    """A detector that knows its SKU sells ``per_minute`` units a minute, fed for 30 min."""
    det = SkuDetector("sku-1", T0, baseline_per_hour=60.0 * per_minute)
    assert sell(det, T0, T0 + 30 * MIN, per_minute) == []
    return det


# --------------------------------------------------------------------------- steady demand


@pytest.mark.parametrize("per_minute", [1, 2, 5, 20, 100])
def test_steady_stream_never_flags_even_from_a_cold_start(per_minute: int) -> None:
    det = SkuDetector("sku-1", T0)
    assert sell(det, T0, T0 + DAY, per_minute) == []
    assert not det.is_viral
    assert det.rate_per_hour == pytest.approx(60.0 * per_minute)
    assert det.baseline_per_hour == pytest.approx(60.0 * per_minute, rel=0.01)


def test_poisson_noise_at_low_and_high_rates_never_flags() -> None:
    rng = random.Random(7)
    for per_hour in (6, 30, 300):
        det = SkuDetector("sku-1", T0 + 12_345)  # a partial first window
        at, verdicts = T0 + 12_345, []
        while at < T0 + 2 * DAY:
            at += int(rng.expovariate(per_hour / HOUR)) + 1
            det.record_sale(at, 1 if rng.random() < 0.9 else 2)
            verdicts += drain(det, at)
        assert verdicts == [], per_hour


# --------------------------------------------------------------------------- spikes


def test_step_spike_flags_after_the_persistence_windows() -> None:
    det = warm(per_minute=1)
    spike = T0 + 30 * MIN
    persistence = DEFAULT_SETTINGS.persistence_windows
    assert sell(det, spike, spike + (persistence - 1) * MIN, 10) == []  # hot, not long enough
    verdicts = sell(det, spike + (persistence - 1) * MIN, spike + 10 * MIN, 10)
    assert [(v.kind, v.at_ms) for v in verdicts] == [(STARTED, spike + persistence * MIN)]
    assert det.is_viral
    assert verdicts[0].sku == "sku-1"
    assert verdicts[0].rate_per_hour == pytest.approx(600.0 * 4 / 5 + 60.0 / 5)  # 5 windows
    assert verdicts[0].baseline_per_hour == pytest.approx(60.0, rel=0.01)
    assert not verdicts[0].content


def test_viral_ends_after_the_calm_windows() -> None:
    det = warm(per_minute=1)
    spike = T0 + 30 * MIN
    assert [v.kind for v in sell(det, spike, spike + 60 * MIN, 10)] == [STARTED]
    back = spike + 60 * MIN
    # The short window still holds spike sales for short_windows - 1 windows, then calm ones.
    ended = back + (DEFAULT_SETTINGS.short_windows - 1 + DEFAULT_SETTINGS.clear_windows) * MIN
    assert sell(det, back, ended - MIN, 1) == []
    assert det.is_viral
    verdicts = sell(det, ended - MIN, ended + 30 * MIN, 1)
    assert [(v.kind, v.at_ms) for v in verdicts] == [(ENDED, ended)]
    assert not det.is_viral


def test_a_spike_is_not_learned_as_the_baseline() -> None:
    det = warm(per_minute=1)
    sell(det, T0 + 30 * MIN, T0 + 3 * HOUR, 10)
    assert det.is_viral
    assert det.baseline_per_hour < 2 * 60.0  # 2.5 h of x10 moved it by less than x2


# --------------------------------------------------------------------------- bursts and blips


def test_one_buyer_taking_many_does_not_flag() -> None:
    det = warm(per_minute=1)
    det.record_sale(T0 + 30 * MIN + 5_000, 50)
    assert sell(det, T0 + 30 * MIN, T0 + 2 * HOUR, 1) == []
    assert det.rate_per_hour == pytest.approx(60.0)  # the 50 units left the 5-window rate


def test_bigger_baskets_are_not_virality_but_count_for_the_forecast() -> None:
    det = warm(per_minute=1)
    assert sell(det, T0 + 30 * MIN, T0 + 2 * HOUR, 1, qty=5) == []  # same buyers, 5 units each
    assert det.rate_per_hour == pytest.approx(300.0)


def test_a_two_minute_blip_straddling_three_windows_does_not_flag() -> None:
    det = warm(per_minute=2)
    blip = T0 + 30 * MIN + 30_000  # mid-window: touches 3 windows
    verdicts = sell(det, T0 + 30 * MIN, blip, 2)
    verdicts += sell(det, blip, blip + 2 * MIN, 40)  # x20 for two minutes
    verdicts += sell(det, blip + 2 * MIN, T0 + 2 * HOUR, 2)
    assert verdicts == []


# --------------------------------------------------------------------------- low counts


def test_a_quiet_sku_selling_two_is_not_viral() -> None:
    det = SkuDetector("sku-1", T0, baseline_per_hour=1.0)
    det.record_sale(T0 + 10 * MIN, 1)
    det.record_sale(T0 + 10 * MIN + 1, 1)
    assert drain(det, T0 + HOUR) == []


def test_the_floor_holds_even_at_a_huge_ratio() -> None:
    det = SkuDetector("sku-1", T0, baseline_per_hour=1.0)
    # 1 a minute is x60 the baseline but 4 units per short window < min_units = 5
    assert sell(det, T0, T0 + HOUR, 1) == []
    # 2 a minute reaches the floor: viral after the persistence windows
    verdicts = sell(det, T0 + HOUR, T0 + 2 * HOUR, 2)
    assert [v.kind for v in verdicts] == [STARTED]
    assert verdicts[0].at_ms <= T0 + HOUR + (DEFAULT_SETTINGS.persistence_windows + 2) * MIN


# --------------------------------------------------------------------------- cold start


def test_new_sku_that_explodes_is_detected() -> None:
    det = SkuDetector("new", T0)  # no history at all
    assert sell(det, T0, T0 + 40 * MIN, 0) == []
    for at in range(T0, T0 + 40 * MIN, 10 * MIN):  # 6/h while nobody knows it
        det.record_sale(at, 1)
    spike = T0 + 40 * MIN
    verdicts = sell(det, spike, spike + 30 * MIN, 5)
    assert [v.kind for v in verdicts] == [STARTED]
    assert verdicts[0].at_ms <= spike + 5 * MIN


def test_new_sku_is_not_judged_during_warmup() -> None:
    det = SkuDetector("new", T0 + 30_000)  # a partial first window, skipped
    assert sell(det, T0 + 30_000, T0 + DAY, 30) == []  # 1,800/h from its first second


def test_a_known_baseline_is_judged_at_once() -> None:
    det = SkuDetector("sku-1", T0, baseline_per_hour=60.0)
    verdicts = sell(det, T0, T0 + 10 * MIN, 10)
    assert [(v.kind, v.at_ms) for v in verdicts] == [(STARTED, T0 + 4 * MIN)]


# --------------------------------------------------------------------------- gaps


def test_a_ten_day_gap_closes_in_a_bounded_number_of_steps() -> None:
    det = SkuDetector("sku-1", T0, baseline_per_hour=60.0)
    det.record_sale(T0, 1)
    assert drain(det, T0 + 10 * DAY) == []
    assert det.windows_closed <= DEFAULT_SETTINGS.short_windows + 1  # not 14,400
    # 10 days of nothing: the baseline decayed by 2 ** -(240 h / 3 h), to ~0
    assert det.baseline_per_hour == pytest.approx(60.0 * 0.5**80, abs=1e-12)
    assert det.rate_per_hour == 0.0


def test_a_gap_gives_the_same_state_as_closing_every_window() -> None:
    folded = warm(per_minute=3)
    stepped = warm(per_minute=3)
    sell(folded, T0 + 30 * MIN, T0 + 40 * MIN, 30)
    sell(stepped, T0 + 30 * MIN, T0 + 40 * MIN, 30)
    assert folded.is_viral and stepped.is_viral
    end = T0 + 40 * MIN + 7 * HOUR + 30_000
    from_fold = drain(folded, end)
    from_steps = [v for at in range(T0 + 40 * MIN, end + 1, MIN) for v in drain(stepped, at)]
    from_steps += drain(stepped, end)
    assert from_fold == from_steps
    assert [v.kind for v in from_fold] == [ENDED]
    assert folded.windows_closed < stepped.windows_closed
    assert folded.baseline_per_hour == pytest.approx(stepped.baseline_per_hour, rel=1e-9)
    assert folded.is_viral == stepped.is_viral


def test_short_pauses_inside_an_episode_fold_like_steps() -> None:
    folded = warm(per_minute=1)
    stepped = warm(per_minute=1)
    out: dict[str, list[Verdict]] = {"folded": [], "stepped": []}
    for name, det in (("folded", folded), ("stepped", stepped)):
        segments = ((30, 40), (50, 55), (63, 70), (75, 75))  # pauses of 10, 8 and 5 min
        for (start, end), (after, _) in itertools.pairwise(segments):
            for at in range(T0 + start * MIN, T0 + end * MIN, 6_000):
                det.record_sale(at, 1)
                out[name] += drain(det, at)
            if name == "stepped":  # close every window of the pause one by one
                out[name] += [v for m in range(end, after + 1) for v in drain(det, T0 + m * MIN)]
        out[name] += drain(det, T0 + 75 * MIN)
    assert folded.windows_closed < stepped.windows_closed
    assert [v.kind for v in out["folded"]] == [STARTED]
    assert out["folded"] == out["stepped"]
    assert folded.is_viral and stepped.is_viral
    assert folded.baseline_per_hour == pytest.approx(stepped.baseline_per_hour, rel=1e-9)


def test_a_gap_can_start_and_end_an_episode_in_one_advance() -> None:
    det = warm(per_minute=1)
    for at in range(T0 + 30 * MIN, T0 + 40 * MIN, 6_000):  # recorded, never advanced
        det.record_sale(at, 1)
    verdicts = drain(det, T0 + DAY)
    assert [v.kind for v in verdicts] == [STARTED, ENDED]
    assert verdicts[0].at_ms < verdicts[1].at_ms


def test_late_events_count_in_the_open_window() -> None:
    det = warm(per_minute=1)
    det.record_sale(T0 + 29 * MIN, 4)  # before the open window: counted in it
    drain(det, T0 + 31 * MIN)
    assert det.rate_per_hour == pytest.approx((1 * 4 + 4) / 5 * 60)


segments = st.lists(
    st.tuples(
        st.sampled_from([0, 1_000, 45_000, 3 * MIN, 10 * MIN, 20 * MIN, 6 * HOUR, DAY]),  # gap
        st.integers(min_value=0, max_value=60),  # sales in the segment
        st.sampled_from([2_000, 6_000, 20_000, 61_000]),  # spacing
        st.integers(min_value=1, max_value=4),  # qty
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(segments, st.booleans(), st.integers(min_value=0, max_value=MIN - 1))
def test_advancing_lazily_equals_advancing_every_window(
    plan: list[tuple[int, int, int, int]], known: bool, offset: int
) -> None:
    start = T0 + offset
    baseline = 30.0 if known else None
    lazy = SkuDetector("sku-1", start, baseline_per_hour=baseline)
    eager = SkuDetector("sku-1", start, baseline_per_hour=baseline)
    lazy_out: list[Verdict] = []
    eager_out: list[Verdict] = []
    at = tick = start
    for gap, count, spacing, qty in plan:
        at += gap
        for _ in range(count):
            while tick + MIN <= at:
                tick += MIN
                eager_out += drain(eager, tick)
            lazy.record_sale(at, qty)
            eager.record_sale(at, qty)
            lazy_out += drain(lazy, at)
            eager_out += drain(eager, at)
            at += spacing
    end = at + DAY
    while tick + MIN <= end:
        tick += MIN
        eager_out += drain(eager, tick)
    eager_out += drain(eager, end)
    lazy_out += drain(lazy, end)
    assert [(v.kind, v.at_ms) for v in lazy_out] == [(v.kind, v.at_ms) for v in eager_out]
    assert lazy.is_viral == eager.is_viral
    assert lazy.baseline_per_hour == pytest.approx(eager.baseline_per_hour, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- content


def feed_video(
    det: SkuDetector, video: str, start_ms: int, end_ms: int, views_per_hour: int
) -> None:
    """Samples every 5 min of a video at a steady rate (likes 8 %, shares 1 %)."""
    views = 100_000
    for at in range(start_ms, end_ms, 5 * MIN):
        det.record_content(at, video, views, views // 12, views // 100)
        views += views_per_hour // 12


def test_content_spike_shortens_the_persistence() -> None:
    det = warm(per_minute=1)
    feed_video(det, "v1", T0, T0 + 30 * MIN, 3_000)
    assert not det.content_evidence
    feed_video(det, "v1", T0 + 30 * MIN, T0 + 31 * MIN, 3_000)
    # next sample: 5,000 views in 5 min = 60,000/h, x20 its own rate
    det.record_content(T0 + 35 * MIN, "v1", 100_000 + 7 * 250 + 5_000, 9_000, 1_100)
    assert det.content_evidence
    spike = T0 + 36 * MIN
    sell(det, T0 + 30 * MIN, spike, 1)
    verdicts = sell(det, spike, spike + 10 * MIN, 10)
    need = DEFAULT_SETTINGS.content_persistence_windows
    assert [(v.kind, v.at_ms) for v in verdicts] == [(STARTED, spike + need * MIN)]
    assert verdicts[0].content


def test_content_alone_never_flags() -> None:
    det = warm(per_minute=1)
    feed_video(det, "v1", T0, T0 + HOUR, 3_000)
    assert sell(det, T0 + 30 * MIN, T0 + HOUR, 1) == []
    views = 100_000 + 12 * 250
    for at in range(T0 + HOUR, T0 + 4 * HOUR, 5 * MIN):  # views x30 for 3 hours
        views += 7_500
        det.record_content(at, "v1", views, views // 12, views // 100)
        if at < T0 + 2 * HOUR:
            assert det.content_evidence
        assert sell(det, at, at + 5 * MIN, 1) == []


def test_content_evidence_expires() -> None:
    det = warm(per_minute=1)
    feed_video(det, "v1", T0, T0 + 30 * MIN, 3_000)
    det.record_content(T0 + 30 * MIN, "v1", 200_000, 20_000, 2_000)
    assert det.content_evidence
    drain(det, T0 + 30 * MIN + DEFAULT_SETTINGS.content_evidence_s * 1000 + MIN)
    assert not det.content_evidence


def test_a_recount_or_a_resample_is_not_a_spike() -> None:
    det = warm(per_minute=1)
    feed_video(det, "v1", T0, T0 + 30 * MIN, 3_000)
    det.record_content(T0 + 31 * MIN, "v1", 10, 1, 0)  # counters went down: new reference
    det.record_content(T0 + 31 * MIN + 1, "v1", 99_999_999, 0, 0)  # too soon: ignored
    det.record_content(T0 + 36 * MIN, "v1", 260, 21, 2)  # 3,000/h again
    assert not det.content_evidence


def test_tracked_videos_are_capped() -> None:
    det = SkuDetector("sku-1", T0)
    for i in range(100):
        det.record_content(T0 + i, f"v{i}", i, 0, 0)
    assert det.tracked_videos == DEFAULT_SETTINGS.max_videos


# --------------------------------------------------------------------------- API


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="qty"):
        SkuDetector("sku-1", T0).record_sale(T0, -1)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="clear_ratio"):
        DetectorSettings(spike_ratio=3.0, clear_ratio=3.0)
    with pytest.raises(ValueError, match="content_persistence_windows"):
        DetectorSettings(persistence_windows=2, content_persistence_windows=3)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"window_s": 0}, DetectorSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"no_such_field": 1}, DetectorSettings)
    assert msgspec.convert({"spike_ratio": 4}, DetectorSettings).spike_ratio == 4.0
