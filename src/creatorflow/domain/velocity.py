"""Viral detection for one SKU: short-window sales velocity against a learned baseline (pure).

Time is cut into fixed windows of ``window_s`` (window ``k`` covers ``[k*w, (k+1)*w)`` ms).
Sales land in the open window; :meth:`SkuDetector.advance` closes every window that ended by
``now_ms`` and judges each one, in this order:

* **hot**: ``S``, the units of the last ``short_windows`` windows, reaches ``max(min_units,
  spike_ratio * mu, mu + z*sqrt(mu) + (z*z + 2)/6)`` where ``mu = b * short_windows`` is what
  the baseline expects (the floor: 0 to 2 sales is not viral; the ratio; and a Poisson upper
  quantile at ``significance_z``, which is what decides at low rates), *and* the window itself
  sold ``>= max(1, spike_ratio * b)``, so a burst inside ``S`` cannot keep later windows hot.
  In detection one sale counts for at most ``sale_unit_cap`` units (one buyer taking 5 is one
  buyer); :attr:`SkuDetector.rate_per_hour`, for forecasts, counts every unit.
* **viral starts** at ``persistence_windows`` consecutive hot windows (4 one-minute windows:
  a 2-minute blip touches at most 3), or ``content_persistence_windows`` while content
  evidence is fresh (below).
* **viral ends** at ``clear_windows`` consecutive calm windows, ``S < max(min_units,
  clear_ratio * mu)`` (hysteresis: calm is well below hot).
* **baseline** ``b`` (units per window) learns the window: a debiased EWMA (mass / weight)
  with half-life ``baseline_half_life_s``, so a young SKU's baseline is the mean of what it
  has seen. A window whose ``S`` reached the hot bar, or closed while viral, teaches at the
  slower ``viral_half_life_s``, and no judged window teaches more than ``max(spike_ratio * b,
  b + z*sqrt(b) + (z*z + 2)/6)`` units: a spike does not become its own baseline in minutes,
  but a lasting new level is learned within about a day.

Cold start: a SKU with no known baseline (``baseline_per_hour=None``) learns for
``warmup_windows`` before any window is judged (a partial first window neither counts nor
teaches): a new SKU selling steadily at any rate is never flagged, and one that explodes after
its first quiet minutes is judged against them. One that sells at its peak from its first
minute looks steady: nothing can tell them apart without history.

Content metrics (cumulative views / likes / shares of the SKU's videos, sampled whenever the
caller polls them) become per-video rates between consecutive samples, each compared with that
video's own debiased EWMA of the same rate (half-life ``content_half_life_s``; a spiking
sample teaches at most ``content_spike_ratio`` times the baseline). A sample whose weighted
ratio reaches ``content_spike_ratio`` with at least ``content_min_views_per_hour`` views is
*content evidence* for ``content_evidence_s``: it shortens the persistence sales need, never
replaces sales (a video whose views explode while nobody buys is not a demand spike).

Bounded: a ring of ``max(short_windows, rate_windows)`` window counts, an LRU of at most
``max_videos`` videos, at most ``MAX_PENDING`` undelivered verdicts. A gap of any length
closes in at most ``short_windows + 1`` window steps: once the short window holds only empty
windows, the rest are folded in one (``b`` decays by ``beta ** n``), with the same verdicts
and baseline as closing them one by one.

Late events (``at_ms`` before the open window) count in the open window; closed windows are
never reopened. No clock, no I/O: the caller passes ``now_ms`` and drains the verdicts.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from dataclasses import dataclass
from math import sqrt
from typing import Annotated, Final

import msgspec

Positive = Annotated[int, msgspec.Meta(ge=1)]
Ratio = Annotated[float, msgspec.Meta(gt=1.0)]
Weight = Annotated[float, msgspec.Meta(ge=0.0)]
Rate = Annotated[float, msgspec.Meta(ge=0.0)]

#: Verdicts not yet taken by :meth:`SkuDetector.advance`; older ones are dropped past this.
MAX_PENDING: Final = 8

#: A content sample closer than this to the video's reference sample is skipped (the rate
#: over a few seconds is noise); the next one is measured from the reference.
MIN_CONTENT_INTERVAL_MS: Final = 10_000

#: Pseudo-rates (per hour) added to both sides of each content ratio, ``(rate + k) /
#: (baseline + k)``, so a video with next to no likes or shares does not "spike" on a handful.
#: Views / likes / shares, about a typical video's proportions (5-10 % likes, ~1 % shares).
CONTENT_SMOOTHING: Final = (200.0, 20.0, 2.0)


class DetectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Thresholds of :class:`SkuDetector` (defaults tuned with ``python -m bench.viral_eval``).

    Attributes:
        window_s: length of one window; every decision is taken when a window closes.
        short_windows: windows summed for the hot test (``S``).
        rate_windows: closed windows behind :attr:`SkuDetector.rate_per_hour`.
        baseline_half_life_s: half-life of the baseline EWMA on ordinary windows.
        viral_half_life_s: half-life used on hot windows and while viral (slower learning).
        warmup_windows: on a cold start, windows that only teach the baseline before any
            is judged (a partial first window does not count and does not teach).
        spike_ratio: hot when demand reaches this multiple of the baseline.
        clear_ratio: calm when demand falls below this multiple (``< spike_ratio``).
        min_units: floor for ``S`` (units in ``short_windows``): below it nothing is hot.
        significance_z: ``S`` must also pass the Poisson upper quantile of its expected
            value ``mu`` at this z-score, ``mu + z*sqrt(mu) + (z*z + 2)/6`` (Cornish-Fisher):
            what decides at low rates, where a ratio of a tiny baseline means little.
        sale_unit_cap: units one sale counts for at most, in detection only.
        persistence_windows: consecutive hot windows that start a viral episode.
        content_persistence_windows: the same while content evidence is fresh.
        clear_windows: consecutive calm windows that end it.
        content_half_life_s: half-life of each video's baseline rates.
        content_spike_ratio: weighted rate/baseline ratio that makes a sample evidence.
        content_min_views_per_hour: views rate a sample needs to count as evidence at all.
        content_weight_views, content_weight_likes, content_weight_shares: weights of each
            metric's ratio in the weighted ratio (normalised by their sum).
        content_evidence_s: how long one spiking sample stays evidence.
        max_videos: videos tracked per SKU (least recently sampled dropped first).
    """

    window_s: Positive = 60
    short_windows: Positive = 4
    rate_windows: Positive = 5
    baseline_half_life_s: Positive = 3 * 3600
    viral_half_life_s: Positive = 24 * 3600
    warmup_windows: Annotated[int, msgspec.Meta(ge=0)] = 10
    spike_ratio: Ratio = 3.0
    clear_ratio: Ratio = 1.5
    min_units: Positive = 5
    significance_z: Annotated[float, msgspec.Meta(ge=0.0)] = 3.0
    sale_unit_cap: Positive = 2
    persistence_windows: Positive = 4
    content_persistence_windows: Positive = 2
    clear_windows: Positive = 15
    content_half_life_s: Positive = 6 * 3600
    content_spike_ratio: Ratio = 4.0
    content_min_views_per_hour: Rate = 2000.0
    content_weight_views: Weight = 0.5
    content_weight_likes: Weight = 0.2
    content_weight_shares: Weight = 0.3
    content_evidence_s: Positive = 30 * 60
    max_videos: Positive = 32

    def __post_init__(self) -> None:
        if self.clear_ratio >= self.spike_ratio:
            raise ValueError("clear_ratio must be < spike_ratio")
        if self.content_persistence_windows > self.persistence_windows:
            raise ValueError("content_persistence_windows must be <= persistence_windows")
        weights = self.content_weight_views + self.content_weight_likes
        if weights + self.content_weight_shares <= 0:
            raise ValueError("at least one content weight must be > 0")


DEFAULT_SETTINGS: Final = DetectorSettings()


class VerdictKind(enum.StrEnum):
    """A change of a SKU's viral state."""

    STARTED = "started"
    ENDED = "ended"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """A state change, decided when the window ending at ``at_ms`` closed.

    ``rate_per_hour`` and ``baseline_per_hour`` are the forecast rate (all units) and the
    detection baseline at that moment; ``content`` says whether content evidence was fresh.
    """

    sku: str
    kind: VerdictKind
    at_ms: int
    rate_per_hour: float
    baseline_per_hour: float
    content: bool


@dataclass(slots=True)
class _Video:
    """Last sample of one video and its debiased EWMA rates (per hour)."""

    at_ms: int
    views: int
    likes: int
    shares: int
    views_rate: float = 0.0
    likes_rate: float = 0.0
    shares_rate: float = 0.0
    weight: float = 0.0  # total EWMA weight; 0 until a first rate is known


def _decay(half_life_s: float, elapsed_s: float) -> float:
    """Factor an EWMA keeps of its old value after ``elapsed_s``."""
    return float(0.5 ** (elapsed_s / half_life_s))


def _upper(mu: float, z: float) -> float:
    """Poisson upper quantile of mean ``mu`` at z-score ``z`` (Cornish-Fisher, +continuity)."""
    return mu + z * sqrt(mu) + (z * z + 2) / 6


class SkuDetector:
    """Viral detector for one SKU (see the module docstring). Not thread-safe; never blocks.

    The owner (the SKU's actor) calls :meth:`record_sale` for each reservation,
    :meth:`record_content` for each metrics sample of a linked video, and :meth:`advance`
    on a timer and after recording; each :meth:`advance` returns one pending
    :class:`Verdict`, so drain with ``while (v := d.advance(now)) is not None``.
    """

    def __init__(
        self,
        sku: str,
        start_ms: int,
        settings: DetectorSettings = DEFAULT_SETTINGS,
        *,
        baseline_per_hour: float | None = None,
    ) -> None:
        """Start watching ``sku`` at ``start_ms``.

        Args:
            baseline_per_hour: the SKU's known rate (e.g. from its stored sales history);
                it then counts as a fully weighted baseline and windows are judged at once.
                None: a cold start, judged after ``settings.warmup_windows``.
        """
        s = settings
        self.sku = sku
        self.settings = s
        self._window_ms = s.window_s * 1000
        self._per_window = s.window_s / 3600.0  # per hour -> per window
        self._beta = _decay(s.baseline_half_life_s, s.window_s)
        self._beta_slow = _decay(s.viral_half_life_s, s.window_s)
        self._open = start_ms // self._window_ms  # index of the open window
        self._open_units = 0  # every unit sold in the open window (forecast)
        self._open_capped = 0  # units capped per sale (detection)
        ring = max(s.short_windows, s.rate_windows)
        self._units: deque[int] = deque(maxlen=ring)
        self._capped: deque[int] = deque(maxlen=ring)
        # Debiased EWMA: baseline = mass / weight (units per window).
        self._mass, self._weight = 0.0, 0.0
        self._warmup = s.warmup_windows  # windows still to learn before judging
        self._skip_partial = start_ms % self._window_ms != 0  # the first window is partial
        if baseline_per_hour is not None:
            self._mass, self._weight = baseline_per_hour * self._per_window, 1.0
            self._warmup, self._skip_partial = 0, False
        self._hot_streak = 0
        self._calm_streak = 0
        self._viral = False
        self._content_until_ms = start_ms  # content evidence is fresh before this time
        self._videos: OrderedDict[str, _Video] = OrderedDict()
        self._pending: deque[Verdict] = deque(maxlen=MAX_PENDING)
        self.windows_closed = 0  # windows judged one by one (gaps fold the rest)

    # ------------------------------------------------------------------------------ reading

    @property
    def is_viral(self) -> bool:
        return self._viral

    @property
    def rate_per_hour(self) -> float:
        """Units sold per hour over the last ``rate_windows`` closed windows (fewer if young)."""
        n = min(len(self._units), self.settings.rate_windows)
        if n == 0:
            return 0.0
        recent = sum(self._units[i] for i in range(len(self._units) - n, len(self._units)))
        return recent / (n * self._per_window)

    @property
    def baseline_per_hour(self) -> float:
        """The detection baseline, in (capped) units per hour."""
        return self._baseline() / self._per_window

    @property
    def content_evidence(self) -> bool:
        """Whether content evidence is fresh at the start of the open window."""
        return self._open * self._window_ms < self._content_until_ms

    @property
    def tracked_videos(self) -> int:
        return len(self._videos)

    def _baseline(self) -> float:
        return self._mass / self._weight if self._weight > 0 else 0.0

    # ------------------------------------------------------------------------------ input

    def record_sale(self, at_ms: int, qty: int) -> None:
        """Count ``qty`` units sold at ``at_ms`` (closes the windows that ended before it).

        Raises:
            ValueError: ``qty`` is negative (a release is not negative demand).
        """
        if qty < 0:
            raise ValueError("qty must be >= 0")
        self._roll(at_ms)
        self._open_units += qty
        self._open_capped += min(qty, self.settings.sale_unit_cap)

    def record_content(
        self, at_ms: int, video_id: str, views: int, likes: int, shares: int
    ) -> None:
        """Take one sample of a linked video's cumulative counters.

        A sample less than ``MIN_CONTENT_INTERVAL_MS`` after the video's reference sample (or
        older) is ignored; a counter that went down (a recount) restarts the reference sample
        but keeps the video's baseline.
        """
        self._roll(at_ms)
        s = self.settings
        video = self._videos.get(video_id)
        if video is None:
            self._videos[video_id] = _Video(at_ms, views, likes, shares)
            if len(self._videos) > s.max_videos:
                self._videos.popitem(last=False)
            return
        self._videos.move_to_end(video_id)
        if at_ms < video.at_ms + MIN_CONTENT_INTERVAL_MS:
            return
        if views < video.views or likes < video.likes or shares < video.shares:
            video.at_ms, video.views, video.likes, video.shares = at_ms, views, likes, shares
            return
        hours = (at_ms - video.at_ms) / 3_600_000
        rates = (
            (views - video.views) / hours,
            (likes - video.likes) / hours,
            (shares - video.shares) / hours,
        )
        video.at_ms, video.views, video.likes, video.shares = at_ms, views, likes, shares
        taught = rates
        if video.weight > 0:
            if self._content_spike(video, rates):
                until = at_ms + s.content_evidence_s * 1000
                self._content_until_ms = max(self._content_until_ms, until)
            # a sample teaches at most a spike's worth, as a sales window does
            kv, kl, ks = CONTENT_SMOOTHING
            cap = s.content_spike_ratio
            taught = (
                min(rates[0], cap * (video.views_rate + kv)),
                min(rates[1], cap * (video.likes_rate + kl)),
                min(rates[2], cap * (video.shares_rate + ks)),
            )
        keep = _decay(s.content_half_life_s, hours * 3600)
        w = keep * video.weight + (1.0 - keep)
        # debiased EWMA per metric: new = (keep*old*weight + (1-keep)*rate) / w
        video.views_rate = (keep * video.weight * video.views_rate + (1 - keep) * taught[0]) / w
        video.likes_rate = (keep * video.weight * video.likes_rate + (1 - keep) * taught[1]) / w
        video.shares_rate = (keep * video.weight * video.shares_rate + (1 - keep) * taught[2]) / w
        video.weight = w

    def _content_spike(self, video: _Video, rates: tuple[float, float, float]) -> bool:
        s = self.settings
        if rates[0] < s.content_min_views_per_hour:
            return False
        kv, kl, ks = CONTENT_SMOOTHING
        weighted = (
            s.content_weight_views * (rates[0] + kv) / (video.views_rate + kv)
            + s.content_weight_likes * (rates[1] + kl) / (video.likes_rate + kl)
            + s.content_weight_shares * (rates[2] + ks) / (video.shares_rate + ks)
        )
        total = s.content_weight_views + s.content_weight_likes + s.content_weight_shares
        return weighted / total >= s.content_spike_ratio

    # ------------------------------------------------------------------------------ windows

    def advance(self, now_ms: int) -> Verdict | None:
        """Close every window that ended by ``now_ms``; return the oldest pending verdict.

        More than one verdict can come out of one call (a long gap can start and end an
        episode); call again until None to drain them. ``now_ms`` earlier than the open
        window changes nothing.
        """
        self._roll(now_ms)
        return self._pending.popleft() if self._pending else None

    def _roll(self, now_ms: int) -> None:
        target = now_ms // self._window_ms
        if target <= self._open:
            return
        s = self.settings
        # The open window, then empty ones until the short window is all empty: one by one.
        step = min(target - self._open, s.short_windows + 1)
        for _ in range(step):
            self._close(self._open_units, self._open_capped)
            self._open_units = self._open_capped = 0
        rest = target - self._open
        if rest > 0:
            self._fold_empty(rest)

    def _close(self, units: int, capped: int) -> None:
        """Judge the open window with its counts and open the next one."""
        s = self.settings
        self._units.append(units)
        self._capped.append(capped)
        self._open += 1
        self.windows_closed += 1
        if self._skip_partial:  # a partial first window would drag the baseline down
            self._skip_partial = False
            return
        b = self._baseline()
        n = min(len(self._capped), s.short_windows)  # fewer on a young detector
        short = sum(self._capped[i] for i in range(len(self._capped) - n, len(self._capped)))
        mu = b * n  # expected units in the short window
        z = s.significance_z
        judged = self._warmup == 0
        high = judged and short >= max(s.min_units, s.spike_ratio * mu, _upper(mu, z))
        hot = high and capped >= max(1.0, s.spike_ratio * b)
        self._warmup = max(0, self._warmup - 1)
        was_viral = self._viral
        self._hot_streak = self._hot_streak + 1 if hot else 0
        change: VerdictKind | None = None
        if not self._viral:
            need = s.content_persistence_windows if self.content_evidence else s.persistence_windows
            if self._hot_streak >= need:
                self._viral, self._calm_streak, change = True, 0, VerdictKind.STARTED
        else:
            calm = short < max(s.min_units, s.clear_ratio * mu)
            self._calm_streak = self._calm_streak + 1 if calm else 0
            if self._calm_streak >= s.clear_windows:
                self._viral, change = False, VerdictKind.ENDED
        beta = self._beta_slow if (was_viral or high) else self._beta
        taught = float(capped)
        if judged:  # one window teaches at most a spike's worth: a spike is not a baseline
            taught = min(taught, max(s.spike_ratio * b, _upper(b, z)))
        self._learn(beta, 1, taught)
        if change is not None:
            self._emit(change)

    def _learn(self, beta: float, windows: int, units: float = 0.0) -> None:
        """Fold ``windows`` windows of ``units`` each into the baseline at decay ``beta``."""
        keep = beta**windows
        self._mass = keep * self._mass + (1.0 - keep) * units
        self._weight = keep * self._weight + (1.0 - keep)

    def _fold_empty(self, n: int) -> None:
        """Close ``n`` empty windows at once; the short window is already all empty.

        Such a window is never hot and always calm (``S = 0 < min_units``), so: the hot
        streak is 0, a viral episode ends at its ``clear_windows``-th calm window, and the
        baseline decays by the slow factor until then and by the normal one after.
        """
        self._hot_streak = 0
        if self._viral:
            left = self.settings.clear_windows - self._calm_streak  # >= 1
            if left > n:
                self._calm_streak += n
                self._skip_empty(n, self._beta_slow)
                return
            self._skip_empty(left, self._beta_slow)
            self._viral = False
            self._emit(VerdictKind.ENDED)
            n -= left
        self._skip_empty(n, self._beta)

    def _skip_empty(self, n: int, beta: float) -> None:
        self._learn(beta, n)
        self._warmup = max(0, self._warmup - n)
        for _ in range(min(n, self._units.maxlen or 0)):
            self._units.append(0)
            self._capped.append(0)
        self._open += n

    def _emit(self, kind: VerdictKind) -> None:
        """Queue a verdict about the window that just closed, with the state after it."""
        self._pending.append(
            Verdict(
                sku=self.sku,
                kind=kind,
                at_ms=self._open * self._window_ms,
                rate_per_hour=self.rate_per_hour,
                baseline_per_hour=self.baseline_per_hour,
                content=self.content_evidence,
            )
        )
