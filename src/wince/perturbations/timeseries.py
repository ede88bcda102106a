"""Time-series perturbations: batches are float arrays of shape (n, time steps, channels).

Sizes are in each channel's standard deviation over the whole dataset (`DataContext.column_sd`,
over all samples and time steps), never of the batch. Durations are in time steps or in % of
the series length or sampling period, so they need no sample rate. `channels` picks the
channels a perturbation touches, as `columns` does for tabular data (names from
`DataContext.feature_names`, else "x0", "x1", ...); perturbations of the timing (warp,
dropouts, sampling jitter) move the selected channels together, as one clock drives them.

Distance: the standardised RMS difference, sqrt(mean over time steps and channels of
(change / channel sd)^2); a value that became missing counts as a change of 1 sd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from wince.errors import DataError, ParameterError
from wince.perturbations.base import (
    Batch,
    DataContext,
    Magnitude,
    Modality,
    Perturbation,
    Phrase,
    Rngs,
    check_choice,
    check_number,
    register,
)
from wince.perturbations.tabular import (
    cell_changes,
    check_selector,
    column_names,
    dataset_sd,
    select_columns,
    signed_validate,
)
from wince.perturbations.words import count, share

EDGES = ("hold", "nan")


def channel_sd(context: DataContext, channels: int, owner: str) -> npt.NDArray[np.float64]:
    """The dataset's channel standard deviations, checked against the batch.

    Raises:
        DataError: `column_sd` is missing, does not hold one value per channel, or holds a
            negative or infinite value.
    """
    fix = (
        "run it through a time-series dataset (wince.datasets.ArrayDataset) or pass "
        "DataContext(Modality.TIMESERIES, column_sd=x.reshape(-1, x.shape[2]).std(axis=0)) "
        "computed over the whole dataset."
    )
    return dataset_sd(context, channels, owner, noun="channel", fix=fix)


def resample_at(x: npt.NDArray[Any], positions: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """Each series read at fractional time steps `positions` (n, t'), linearly interpolated.

    Positions are clipped to the series; a whole-number position returns the sample itself
    (bit for bit, and a missing neighbour does not spill into it).
    """
    n, t = x.shape[:2]
    x64 = np.asarray(x, np.float64)
    if t < 2:
        return x64.copy()
    where = np.clip(positions, 0.0, t - 1)
    low = np.minimum(np.floor(where).astype(np.intp), t - 2)
    weight = (where - low)[..., None]
    rows = np.arange(n)[:, None]
    before, after = x64[rows, low], x64[rows, low + 1]
    with np.errstate(invalid="ignore"):
        mixed = before + weight * (after - before)
    out: npt.NDArray[Any] = np.where(weight == 0, before, np.where(weight == 1, after, mixed))
    return out


class TimeSeriesPerturbation(Perturbation):
    """Shared batch checks, channel selection and distance for time-series perturbations.

    Args:
        channels: the channels to change: a list of names, a regular expression matched
            against whole names, or "all" (default).
    """

    modality = Modality.TIMESERIES
    distance_unit: ClassVar[str] = "standardised RMS difference (channel sd units)"

    def __init__(self, *, channels: str | Sequence[str] | None = None) -> None:
        self.channels = check_selector(self.name, channels, option="channels")

    def check_batch(self, x: Batch) -> None:
        """Raise `DataError` unless `x` is a 3-D float array."""
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.dtype.kind != "f":
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(
                f"{self.name}: time-series batches are float arrays of shape (n, time steps, "
                f"channels); got {shape} {getattr(x, 'dtype', '')}. Add a channel axis to a "
                "single series (x[..., None]) and use x.astype(float)."
            )

    def selected(self, x: npt.NDArray[Any], context: DataContext) -> npt.NDArray[np.bool_]:
        """Mask of the channels to change."""
        width = x.shape[2]
        return select_columns(
            self.name,
            self.channels,
            column_names(context, width, self.name),
            np.full(width, "float"),
            default="all",
            numeric_only=False,
            option="channels",
        )

    def sizing_sd(
        self, x: npt.NDArray[Any], context: DataContext, selected: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        """Channel sds, refusing an unknown (NaN) sd on a selected channel that holds values."""
        sd = channel_sd(context, x.shape[2], self.name)
        unknown = np.isnan(sd) & ~np.all(np.isnan(x), axis=(0, 1)) & selected
        if unknown.any():
            raise DataError(
                f"{self.name}: the dataset sd of channels {np.flatnonzero(unknown).tolist()} "
                "is NaN but the batch holds values there; compute column_sd with np.nanstd."
            )
        return sd

    @staticmethod
    def finish(
        x: npt.NDArray[Any], changed: npt.NDArray[Any], selected: npt.NDArray[np.bool_]
    ) -> Batch:
        """Keep unselected channels and restore the input dtype."""
        return np.where(selected, changed, x).astype(x.dtype, copy=False)

    def distance(
        self, original: Batch, perturbed: Batch, context: DataContext
    ) -> npt.NDArray[np.float64]:
        """Standardised RMS difference over time steps and channels (module docstring)."""
        n, t, width = original.shape
        if t * width == 0:
            return np.zeros(n)
        sd = channel_sd(context, width, self.name)
        size, _ = cell_changes(original, perturbed, sd, np.zeros(width, dtype=bool))
        rms: npt.NDArray[np.float64] = np.sqrt(np.mean(size * size, axis=(1, 2)))
        return rms


@register
class Jitter(TimeSeriesPerturbation):
    """Sensor noise on every reading, sized in each channel's standard deviations.

    In sd units so that one number means the same for an accelerometer and a thermometer:
    0.02 sd is a good sensor, 0.5 sd a noisy one or a weak signal.

    Why this range: no published source found measures sensor noise in channel standard
    deviations, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.
    """

    name = "timeseries.jitter"
    phrase = Phrase(lambda v: f"sensor noise of {count(v, 'standard deviation')} on every reading")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "noise_sd",
        unit="channel standard deviations",
        off=0.0,
        mild=0.02,
        severe=0.5,
        limits=(0.0, 10.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add N(0, (value * channel sd)^2) to every reading of the selected channels."""
        selected = self.selected(x, context)
        sd = self.sizing_sd(x, context, selected)
        noise = rngs.standard_normal(x.shape[1:])
        return self.finish(x, x + noise * (value * sd), selected)


@register
class Drift(TimeSeriesPerturbation):
    """A sensor drifting during a recording: an offset growing from 0 to drift_sd by the end.

    In channel sds, as for tabular drift: 0.1 sd is a slow warm-up drift, 1 sd a sensor that
    is far off by the end of the recording. The ramp is linear in time and the same for every
    series (not random). Negative values drift low.

    Why this range: no published source found measures drift during a recording in channel
    standard deviations, so this is a stress test (`stress`): usable in a plan that names it,
    never in a preset.
    """

    name = "timeseries.drift"
    phrase = Phrase(
        lambda v: f"a sensor drifting by {count(v, 'standard deviation')} over a recording"
    )
    stress = True
    version = 1
    stochastic = False
    magnitude = Magnitude(
        "drift_sd",
        unit="channel standard deviations",
        off=0.0,
        mild=0.1,
        severe=1.0,
        limits=(-10.0, 10.0),
    )

    def validate(self, value: object) -> float:
        """Validate the drift; drifting low is as realistic as drifting high."""
        return signed_validate(self, value)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add a ramp from 0 at the first step to value * channel sd at the last."""
        selected = self.selected(x, context)
        sd = self.sizing_sd(x, context, selected)
        t = x.shape[1]
        ramp = np.arange(t) / (t - 1) if t > 1 else np.ones(t)
        return self.finish(x, x + ramp[:, None] * (value * sd), selected)


def bump(u: npt.NDArray[np.float64], peak: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A smooth bump on [0, 1]: 0 and flat at both ends, 1 and flat at `peak`.

    Two smoothsteps (3v^2 - 2v^3), rising to the peak and falling from it; polynomial, so the
    result is the same on every platform. Its steepest slope is 1.5 / min(peak, 1 - peak).
    """
    rising = np.clip(u / peak, 0.0, 1.0)
    falling = np.clip((1.0 - u) / (1.0 - peak), 0.0, 1.0)
    v = np.where(u <= peak, rising, falling)
    shape: npt.NDArray[np.float64] = v * v * (3.0 - 2.0 * v)
    return shape


@register
class TimeWarp(TimeSeriesPerturbation):
    """Uneven speed within a recording (a gesture done slower, then faster), ends fixed.

    Each series is read along a smooth random monotone time map: it runs behind (or ahead)
    up to a peak displacement at a random point in the middle half of the series, then
    catches up, so the first and last readings stay where they are. The magnitude is that
    peak displacement in % of the series length: 1% is barely visible, 10% a clearly uneven
    pace. The map's slope stays above 0.1 (time never stops or runs backwards) for every value
    up to the limit of 15%. Values between readings are linearly interpolated.

    Why this range: no published source found measures pace variation within real recordings in
    % of their length, so this is a stress test (`stress`): usable in a plan that names it,
    never in a preset.
    """

    name = "timeseries.time_warp"
    phrase = Phrase(lambda v: f"uneven speed within a recording ({v:g}% of its length)")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "warp_pct",
        unit="% of the series length",
        off=0.0,
        mild=1.0,
        severe=10.0,
        limits=(0.0, 15.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Read every series along its own warped time map."""
        selected = self.selected(x, context)
        t = x.shape[1]
        draws = rngs.random((2,))
        peak = 0.25 + 0.5 * draws[:, :1]  # the bump's peak lies in the middle half
        sign = np.where(draws[:, 1:] < 0.5, -1.0, 1.0)
        steps = np.arange(t, dtype=np.float64)
        u = steps / max(t - 1, 1)
        positions = steps + sign * (value / 100) * max(t - 1, 0) * bump(u[None, :], peak)
        if t > 1:
            positions[:, 0], positions[:, -1] = 0.0, t - 1.0
        return self.finish(x, resample_at(x, positions), selected)


@register
class ChannelLag(TimeSeriesPerturbation):
    """Channels out of step: each channel delayed or advanced by its own whole number of steps.

    As when sensors on separate clocks or buffers are merged. The magnitude is the largest
    lag, in time steps, because misalignment comes in sample periods whatever the series
    length; each channel of each series draws a lag uniformly in [-lag_steps, lag_steps]
    (rounded), so channels are misaligned against each other as well as against time. 1-2
    steps is a common off-by-one merge; 8 steps a badly synchronised system.

    Why this range: no published source found measures the misalignment of channels merged from
    separate clocks, so this is a stress test (`stress`): usable in a plan that names it, never
    in a preset.

    Args:
        channels: see `TimeSeriesPerturbation`.
        edge: where a shifted channel has no data: "hold" repeats its first or last reading,
            "nan" leaves it missing.
    """

    name = "timeseries.channel_lag"
    phrase = Phrase(lambda v: f"channels out of step by {count(v, 'time step')}")
    stress = True
    version = 1
    stochastic = True
    creates_missing = True  # with edge="nan"
    magnitude = Magnitude(
        "lag_steps",
        unit="time steps",
        off=0.0,
        mild=2.0,
        severe=8.0,
        limits=(0.0, 10_000.0),
        integer=True,
    )

    def __init__(self, *, channels: str | Sequence[str] | None = None, edge: str = "hold") -> None:
        super().__init__(channels=channels)
        self.edge = check_choice(self.name, "edge", edge, EDGES)

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Shift each selected channel by its drawn lag (positive: the channel is late)."""
        selected = self.selected(x, context)
        n, t, width = x.shape
        lag = np.rint((2 * rngs.random((width,)) - 1) * value).astype(np.intp)
        source = np.arange(t)[None, :, None] - lag[:, None, :]
        inside = (source >= 0) & (source < t)
        rows = np.arange(n)[:, None, None]
        shifted = np.asarray(x[rows, np.clip(source, 0, max(t - 1, 0)), np.arange(width)])
        if self.edge == "nan":
            shifted = np.where(inside, shifted, np.nan)
        return self.finish(x, shifted, selected)


@register
class Dropouts(TimeSeriesPerturbation):
    """Readings lost in transmission or logging: gaps filled by the last value, or NaN.

    The rate is the expected share of time steps lost, in bursts of `burst_steps` steps (packet
    loss drops runs of readings): 1% is a good link, 20% a poor wireless one. All selected
    channels lose the same steps, as they travel together. Burst starts are drawn so the
    expected lost share is the rate (a step is lost with probability 1 - (1 - p)^burst), and a
    higher rate keeps the gaps of a lower one (same seed).

    Why this range: field deployments lose readings at both ends of it. NCAR's wireless motes
    in the METCRAX II field campaign delivered 94.8-99.5% of their messages (NCAR/EOL ISFS
    message-recovery notes, 2013): 0.5-5% lost, around the mild end (1%). The Intel Berkeley
    Research Lab data (54 Mica2Dot sensors sampling every 31 s from 28 February to 5 April
    2004, MIT CSAIL) holds about 2.3 million readings of the 5.6 million that schedule gives:
    more than half lost, beyond the severe end (20%).

    Args:
        channels: see `TimeSeriesPerturbation`.
        burst_steps: length of each gap in time steps (whole number >= 1).
        fill: "hold" repeats the last reading before the gap (the first one after it for a
            gap at the start); "nan" leaves the gap missing.
    """

    name = "timeseries.dropouts"
    phrase = Phrase(lambda v: f"{share(v)} of readings lost")
    version = 1
    stochastic = True
    creates_missing = True  # with fill="nan", or a series that loses every step
    magnitude = Magnitude(
        "dropout_rate",
        unit="fraction of time steps",
        off=0.0,
        mild=0.01,
        severe=0.2,
        limits=(0.0, 1.0),
    )

    def __init__(
        self,
        *,
        channels: str | Sequence[str] | None = None,
        burst_steps: int = 1,
        fill: str = "hold",
    ) -> None:
        super().__init__(channels=channels)
        whole = isinstance(burst_steps, int | np.integer) and not isinstance(burst_steps, bool)
        if not whole or burst_steps < 1:
            raise ParameterError(
                f"{self.name}: burst_steps must be a whole number of time steps >= 1; got "
                f"{burst_steps!r}. Try 1 (isolated losses) or 5."
            )
        self.burst_steps = int(burst_steps)
        self.fill = check_choice(self.name, "fill", fill, EDGES)

    def lost(self, rngs: Rngs, t: int, value: float) -> npt.NDArray[np.bool_]:
        """Which time steps each series loses, shape (n, t)."""
        b = self.burst_steps
        start = 1.0 - (1.0 - value) ** (1.0 / b)
        starts = rngs.random((t + b - 1,)) < start  # index e starts a burst at step e-b+1
        window = np.lib.stride_tricks.sliding_window_view(starts, b, axis=1)
        lost: npt.NDArray[np.bool_] = np.any(window, axis=-1)
        return lost

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Replace lost readings of the selected channels by the held value or NaN."""
        selected = self.selected(x, context)
        n, t = x.shape[:2]
        if t == 0:
            return x.copy()
        lost = self.lost(rngs, t, value)
        steps = np.arange(t)
        if self.fill == "nan":
            return self.finish(x, np.where(lost[..., None], np.nan, x), selected)
        last = np.maximum.accumulate(np.where(lost, -1, steps), axis=1)
        first = np.argmax(~lost, axis=1)[:, None]
        source = np.where(last < 0, first, last)
        held = np.asarray(x[np.arange(n)[:, None], source], np.float64)
        held[lost.all(axis=1)] = np.nan  # nothing left to hold
        return self.finish(x, held, selected)


@register
class Spikes(TimeSeriesPerturbation):
    """Isolated glitches: single readings jump by several standard deviations and back.

    The rate is the share of readings (per channel) hit, as from electrical interference or a
    loose contact: 0.1% is a clean installation, 2% a noisy one. Each spike is
    `amplitude_sd` channel sds (default 5, far outside normal variation) up or down at random.

    Why this range: no published source found measures the rate of glitches in real sensor
    streams, so this is a stress test (`stress`): usable in a plan that names it, never in a
    preset.

    Args:
        channels: see `TimeSeriesPerturbation`.
        amplitude_sd: spike height in channel standard deviations, in [0, 1000].
    """

    name = "timeseries.spikes"
    phrase = Phrase(lambda v: f"glitches in {share(v)} of readings")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "spike_rate",
        unit="fraction of readings",
        off=0.0,
        mild=0.001,
        severe=0.02,
        limits=(0.0, 1.0),
    )

    def __init__(
        self, *, channels: str | Sequence[str] | None = None, amplitude_sd: float = 5.0
    ) -> None:
        super().__init__(channels=channels)
        self.amplitude_sd = check_number(
            self.name, "amplitude_sd", amplitude_sd, unit="channel sds", low=0.0, high=1000.0
        )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Add a spike of ±amplitude_sd channel sds to each hit reading."""
        selected = self.selected(x, context)
        sd = self.sizing_sd(x, context, selected)
        draws = rngs.random((2, *x.shape[1:]))
        hit = draws[:, 0] < value
        sign = np.where(draws[:, 1] < 0.5, -1.0, 1.0)
        return self.finish(x, x + hit * sign * (self.amplitude_sd * sd), selected)


@register
class SamplingJitter(TimeSeriesPerturbation):
    """Irregular sampling instants: each reading taken a little early or late.

    The magnitude is the sd of the timing error in % of the sampling period: 1% is a cheap
    crystal clock, 25% a logger whose timestamps follow a busy scheduler. Readings are
    re-interpolated (linearly) at the jittered instants, clipped to the recording; all
    selected channels share the instants, as one clock samples them.

    Why this range: no published source found measures timestamp jitter of real loggers in % of
    the sampling period, so this is a stress test (`stress`): usable in a plan that names it,
    never in a preset.
    """

    name = "timeseries.sampling_jitter"
    phrase = Phrase(lambda v: f"irregular sampling, off by up to {v:g}% of the sampling period")
    stress = True
    version = 1
    stochastic = True
    magnitude = Magnitude(
        "jitter_pct",
        unit="% of the sampling period",
        off=0.0,
        mild=1.0,
        severe=25.0,
        limits=(0.0, 100.0),
    )

    def apply(self, x: Batch, value: float, rngs: Rngs, context: DataContext) -> Batch:
        """Read each series at its jittered sampling instants."""
        selected = self.selected(x, context)
        t = x.shape[1]
        positions = np.arange(t) + (value / 100) * rngs.standard_normal((t,))
        return self.finish(x, resample_at(x, positions), selected)
