"""Draws a backtest: each series with its expected band and the spans where it fired.

One panel per series (the ones that fired first, then the others, at most
:data:`MAX_PANELS`): the observed value, for anomaly rules the expected value and its
band, for trend and frequency rules the condition's threshold, and a red span for every
firing. Rendered with matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from promalert.rules.backtest import Backtest, SeriesResult
from promalert.rules.history import to_datetime
from promalert.rules.spec import AnomalyRule, FrequencyRule, TrendRule

MAX_PANELS = 12
"""Series drawn at most; a backtest over many series names how many were left out."""


def _order(result: Backtest) -> list[SeriesResult]:
    """Series that fired first (by their first firing), then the rest by labels."""
    fired = sorted((r for r in result.series if r.spans), key=lambda r: r.spans[0].fired_at)
    quiet = sorted((r for r in result.series if not r.spans), key=lambda r: str(r.alert))
    return fired + quiet


def plot_backtest(result: Backtest, path: str | Path) -> None:
    """Write the backtest's chart as a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rule = result.rule
    shown = _order(result)[:MAX_PANELS]
    panels = max(len(shown), 1)
    fig, axes = plt.subplots(panels, 1, figsize=(12, 2.8 * panels + 0.6), squeeze=False)
    title = f"{rule.alert} ({rule.kind}) backtest"
    if len(result.series) > len(shown):
        title += f": {len(shown)} of {len(result.series)} series"
    fig.suptitle(title, fontsize=12)
    threshold = None
    if isinstance(rule, TrendRule | FrequencyRule):
        threshold = rule.condition.threshold
    for ax, series in zip(axes[:, 0], shown, strict=False):
        replay = series.replay
        when = [to_datetime(float(t)) for t in replay.times]
        if isinstance(rule, AnomalyRule) and replay.lower is not None:
            assert replay.upper is not None and replay.expected is not None
            lower, upper = _finite(replay.lower), _finite(replay.upper)
            ax.fill_between(when, lower, upper, color="tab:blue", alpha=0.15, label="band")
            ax.plot(when, replay.expected, color="tab:blue", lw=0.8, ls="--", label="expected")
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", lw=0.8, ls=":", label=f"threshold {threshold:g}")
        ax.plot(when, replay.values, color="black", lw=0.9, label="value")
        for n, span in enumerate(series.spans):
            until = span.resolved_at or result.end
            label = "firing" if n == 0 else None
            ax.axvspan(span.fired_at, until, color="tab:red", alpha=0.25, label=label)
        ax.set_title(str(series.alert), fontsize=9, loc="left")
        ax.set_xlim(result.start, result.end)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
    if not shown:
        axes[0, 0].text(0.5, 0.5, "no series in this range", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def _finite(values: np.ndarray) -> np.ndarray:
    """Infinite band edges (unknown spread) drawn as gaps."""
    return np.where(np.isfinite(values), values, np.nan)
