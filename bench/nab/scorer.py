"""Our own implementation of the NAB scoring method described in nab-dev/README.md."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Profile:
    """Weights of one NAB application profile."""

    name: str
    tp_weight: float
    fn_weight: float
    fp_weight: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 1.0, 0.11),
    Profile("reward_low_FP_rate", 1.0, 1.0, 0.22),
    Profile("reward_low_FN_rate", 1.0, 2.0, 0.11),
)


@dataclass(frozen=True, slots=True)
class FileRows:
    """One file prepared for scoring: scored rows only, each with its window and weight."""

    scores: np.ndarray  # anomaly_score of each scored (post-probation) row
    window: np.ndarray  # global window id of the row, or -1 outside every window
    unweighted: np.ndarray  # scaled sigmoid: in (0, 1] inside a window, in [-1, 0] outside
    n_windows: int


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """The best threshold of one profile over the corpus, with its raw and normalised score."""

    profile: Profile
    threshold: float
    raw: float
    normalised: float
    tp: int
    fp: int
    fn: int


def probation_rows(n_rows: int, fraction: float = 0.15, cap: int = 750) -> int:
    """Number of leading rows that are not scored: 15% of the file, at most 750."""
    return min(math.floor(fraction * n_rows), cap)


def sigmoid(x: float) -> float:
    """NAB's scaled sigmoid ``2/(1+exp(5x)) - 1``: 1-ish far left, 0 at 0, -1 far right."""
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


_LEFT_EDGE = sigmoid(-1.0)  # the raw value at a window's left edge; TP values are scaled by it


def window_indices(
    timestamps: np.ndarray, windows: Iterable[tuple[float, float]]
) -> list[tuple[int, int]]:
    """Map each window's [start, end] timestamps to the first and last row inside it."""
    out: list[tuple[int, int]] = []
    for start, end in windows:
        left = int(np.searchsorted(timestamps, start, side="left"))
        right = int(np.searchsorted(timestamps, end, side="right")) - 1
        if right >= left:
            out.append((left, right))
    return out


def row_weights(n_rows: int, windows: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Window id (-1 outside) and unweighted score of every row of a file.

    Inside a window the value rewards earliness and is scaled so the left edge gives 1.
    After a window it is the sigmoid of the distance past its right edge in units of
    (width - 1), and -1 beyond three widths; before the first window it is -1.
    """
    window = np.full(n_rows, -1, dtype=np.int64)
    value = np.full(n_rows, -1.0)
    prev_right: int | None = None
    prev_width = 0
    ordered = sorted(windows)
    w = 0
    i = 0
    while i < n_rows:
        if w < len(ordered) and i == ordered[w][0]:
            left, right = ordered[w]
            width = right - left + 1
            for j in range(left, min(right, n_rows - 1) + 1):
                window[j] = w
                value[j] = sigmoid(-(right - j + 1) / width) / _LEFT_EDGE
            prev_right, prev_width = right, width
            i = right + 1
            w += 1
            continue
        if prev_right is not None:
            y = abs(i - prev_right) / max(prev_width - 1, 1)
            value[i] = -1.0 if y > 3.0 else sigmoid(y)
        i += 1
    return window, value


def prepare_file(scores: np.ndarray, windows: Sequence[tuple[int, int]], offset: int) -> FileRows:
    """Drop the probationary rows of one file and number its windows from ``offset``."""
    n = len(scores)
    window, value = row_weights(n, windows)
    start = probation_rows(n)
    kept = window[start:]
    kept = np.where(kept >= 0, kept + offset, -1)
    return FileRows(np.asarray(scores, dtype=float)[start:], kept, value[start:], len(windows))


def best_threshold(files: Sequence[FileRows], profile: Profile) -> ProfileResult:
    """Sweep every distinct score as threshold (detection: score >= threshold) over all files."""
    n_windows = sum(f.n_windows for f in files)
    scores = np.concatenate([f.scores for f in files]) if files else np.zeros(0)
    window = np.concatenate([f.window for f in files]) if files else np.zeros(0, np.int64)
    value = np.concatenate([f.unweighted for f in files]) if files else np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    scores, window, value = scores[order], window[order], value[order]

    total = -profile.fn_weight * n_windows
    best = (total, math.inf, 0, 0)  # (raw, threshold, tp, fp): nothing detected
    best_in_window: dict[int, float] = {}
    fp = 0
    for k in range(len(scores)):
        w = int(window[k])
        v = float(value[k])
        if w < 0:
            total += profile.fp_weight * v
            fp += 1
        elif w not in best_in_window:
            best_in_window[w] = v
            total += profile.fn_weight + profile.tp_weight * v
        elif v > best_in_window[w]:
            total += profile.tp_weight * (v - best_in_window[w])
            best_in_window[w] = v
        last_of_group = k + 1 == len(scores) or scores[k + 1] != scores[k]
        if last_of_group and total > best[0] + 1e-12:
            best = (total, float(scores[k]), len(best_in_window), fp)
    raw, threshold, tp, fps = best
    null = -profile.fn_weight * n_windows
    perfect = profile.tp_weight * n_windows
    normalised = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return ProfileResult(profile, threshold, raw, normalised, tp, fps, n_windows - tp)


def score_corpus(
    per_file: Sequence[tuple[np.ndarray, Sequence[tuple[int, int]]]],
) -> list[ProfileResult]:
    """Score a corpus given, per file, its anomaly scores and window row ranges."""
    files: list[FileRows] = []
    offset = 0
    for scores, windows in per_file:
        files.append(prepare_file(scores, windows, offset))
        offset += len(windows)
    return [best_threshold(files, p) for p in PROFILES]
