"""Detector throughput: batch points/s, streaming updates/s and memory per tracked series.

Usage: ``python bench/detect_throughput/run.py [--series N] [--points N] [--streams N]
[--detectors a,b,...]``

Defaults follow the issue: 1,000 series x 10,080 points (a week at one-minute steps) on
the batch path, one detector per series, run one after the other; 10,000 tracked series
each given one new point on the streaming path, after a day (1,440 points) of warm-up;
memory per tracked series is measured with tracemalloc on 200 detectors that have seen
the whole week. The isolation forest refits a scikit-learn forest every 500 points, so
it runs on fewer series (named in the output); it has no target.

Rates are per CPU second of this process (``time.process_time``), so other work on a
shared machine does not count against them; on an idle machine they equal wall-clock
rates, which are printed too. The targets are judged on the CPU-second rates.

BLAS is pinned to one thread before numpy loads: the detectors' block products are tiny
(128 x 128), and a BLAS thread pool only adds contention for them.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "src"))

from promalert.detect import DETECTORS, Detector  # noqa: E402

STEP = 60.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
BATCH_TARGETS = {"ewma": 5e6, "zscore": 5e6, "mad": 1e6, "ensemble": 2.5e5}
STREAM_TARGETS = {"ensemble": 5e4}
SLOW = {"isolation_forest": 5}  # series used for detectors that refit a forest
SLOW_STREAMS = {"isolation_forest": 20}


def workload(series: int, points: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps and a (series, points) array: daily cycles, noise, level shifts, spikes."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    ts = T0 + STEP * t
    base = rng.uniform(10, 1000, (series, 1))
    daily = np.sin(2 * np.pi * t / 1440 + rng.uniform(0, 2 * np.pi, (series, 1)))
    values = base * (1 + 0.3 * daily) + rng.normal(0, 1, (series, points)) * base * 0.05
    shift_at = rng.integers(points // 2, points, series)
    values[t[None, :] >= shift_at[:, None]] *= 1.2
    spikes = rng.random((series, points)) < 0.0005
    values[spikes] *= 3
    return ts, values


def make(name: str) -> Detector:
    return DETECTORS[name]()


@dataclass(frozen=True, slots=True)
class Rate:
    """Work done per CPU second and per wall-clock second."""

    cpu: float
    wall: float


class Stopwatch:
    """CPU and wall-clock time of a block."""

    def __enter__(self) -> Stopwatch:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall

    def rate(self, work: float) -> Rate:
        return Rate(work / max(self.cpu, 1e-9), work / max(self.wall, 1e-9))


def batch_rate(name: str, ts: np.ndarray, values: np.ndarray) -> tuple[Rate, int]:
    """Points per second of ``score_batch`` over whole series, one detector each."""
    count = min(values.shape[0], SLOW.get(name, values.shape[0]))
    with Stopwatch() as watch:
        for row in values[:count]:
            make(name).score_batch(ts, row)
    return watch.rate(count * ts.size), count


def stream_rate(name: str, streams: int, warm: int, rounds: int = 3) -> tuple[Rate, int]:
    """Series updates per second: one new point for each of ``streams`` warmed-up series."""
    streams = min(streams, SLOW_STREAMS.get(name, streams))
    ts, values = workload(streams, warm + rounds, seed=2)
    detectors = [make(name) for _ in range(streams)]
    for det, row in zip(detectors, values, strict=True):
        det.score_batch(ts[:warm], row[:warm])
    best = Rate(0.0, 0.0)
    for r in range(rounds):
        t, column = float(ts[warm + r]), values[:, warm + r].tolist()
        with Stopwatch() as watch:
            for det, x in zip(detectors, column, strict=True):
                det.update(t, x)
        rate = watch.rate(streams)
        best = Rate(max(best.cpu, rate.cpu), max(best.wall, rate.wall))
    return best, streams


def memory_per_series(name: str, ts: np.ndarray, values: np.ndarray, count: int) -> float:
    """Bytes held per detector after it has seen every point of ``ts``."""
    count = min(count, SLOW.get(name, count), values.shape[0])
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = []
    for row in values[:count]:
        det = make(name)
        det.score_batch(ts, row)
        kept.append(det)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return held / count


def _si(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return "-"
    return f"{_si(target)} {'ok' if value >= target else 'MISSED'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10_080)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=1440, help="points before streaming")
    parser.add_argument("--memory-series", type=int, default=200)
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    ts, values = workload(args.series, args.points)
    print(
        f"batch: {args.series} series x {args.points} points; streaming: {args.streams} series "
        f"after {args.warm} points; memory: {args.memory_series} series after {args.points} points"
    )
    header = (
        f"{'detector':<17} {'batch pts/s':>12} {'target':>12} {'(wall)':>9} "
        f"{'stream upd/s':>13} {'target':>12} {'(wall)':>9} {'bytes/series':>13}"
    )
    print(header)
    print("-" * len(header))
    notes = []
    failed = False
    for name in names:
        batch, used = batch_rate(name, ts, values)
        stream, streams = stream_rate(name, args.streams, args.warm)
        memory = memory_per_series(name, ts, values, args.memory_series)
        b_target, s_target = BATCH_TARGETS.get(name), STREAM_TARGETS.get(name)
        failed |= (b_target is not None and batch.cpu < b_target) or (
            s_target is not None and stream.cpu < s_target
        )
        print(
            f"{name:<17} {_si(batch.cpu):>12} {_verdict(batch.cpu, b_target):>12} "
            f"{_si(batch.wall):>9} {_si(stream.cpu):>13} {_verdict(stream.cpu, s_target):>12} "
            f"{_si(stream.wall):>9} {memory:>13,.0f}",
            flush=True,
        )
        if used < args.series or streams < args.streams:
            notes.append(f"{name}: batch on {used} series, streaming on {streams} series")
    for note in notes:
        print(f"note: {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
