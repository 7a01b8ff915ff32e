"""Stateful streaming filters with a vectorised batch path that continues the same state.

Each filter has ``step(x)`` for one new point and ``run(xs)`` for many; both leave the
filter in the same state, and ``run`` returns what successive ``step`` calls would.
``to_state``/``from_state`` give a JSON-able dict so warm-up survives a restart.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

_BLOCK = 128  # block length of the batch EW recursion: small enough that powers stay exact-ish


class EwMean:
    """Exponentially weighted mean ``y += alpha * (x - y)``, started at the first value."""

    __slots__ = ("alpha", "value")

    def __init__(self, alpha: float, value: float | None = None) -> None:
        self.alpha = alpha
        self.value = value

    def step(self, x: float) -> float:
        """Fold one value in and return the new mean."""
        self.value = x if self.value is None else self.value + self.alpha * (x - self.value)
        return self.value

    def run(self, xs: np.ndarray) -> np.ndarray:
        """Fold many values in; element t is the mean after value t."""
        xs = np.asarray(xs, dtype=float)
        if xs.size == 0:
            return xs.copy()
        start = xs[0] if self.value is None else self.value
        out = _ew_blocks(xs, self.alpha, start, first_is_seed=self.value is None)
        self.value = float(out[-1])
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"alpha": self.alpha, "value": self.value}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EwMean:
        """Rebuild from ``to_state``."""
        return cls(float(state["alpha"]), state["value"])


def _ew_blocks(xs: np.ndarray, alpha: float, y0: float, first_is_seed: bool) -> np.ndarray:
    """EW recursion in blocks: a triangular matrix product per block, a short carry loop."""
    n = xs.size
    decay = 1.0 - alpha
    nb = -(-n // _BLOCK)
    padded = np.zeros(nb * _BLOCK)
    padded[:n] = xs
    if first_is_seed:
        # y_0 = x_0 exactly, as the streaming path does: treat x_0 as the carried-in value.
        padded[0] = 0.0
    k = np.arange(_BLOCK)
    powers = decay ** (k + 1)  # weight of the carried-in value at position k
    lags = k[:, None] - k[None, :]
    tri = np.where(lags >= 0, alpha * decay ** np.maximum(lags, 0), 0.0)
    local = padded.reshape(nb, _BLOCK) @ tri.T
    out = np.empty((nb, _BLOCK))
    carry = y0
    for b in range(nb):
        out[b] = local[b] + powers * carry
        if b == 0 and first_is_seed:
            # the seed is y_0 itself, not a value before it
            out[0] = local[0] + np.concatenate(([1.0], powers[:-1])) * carry
        carry = out[b, -1]
    return out.ravel()[:n]


class RollingMean:
    """Mean of the last ``k`` values (fewer at the start), from a running cumulative sum.

    Both paths accumulate the same sum in the same order, so they agree exactly.
    """

    __slots__ = ("k", "total", "sums")

    def __init__(self, k: int, total: float = 0.0, sums: list[float] | None = None) -> None:
        self.k = k
        self.total = total
        self.sums: deque[float] = deque(sums if sums is not None else [0.0], maxlen=k + 1)

    def current(self) -> float:
        """Mean of the values now in the window (NaN when empty)."""
        if len(self.sums) < 2:
            return math.nan
        return (self.total - self.sums[0]) / (len(self.sums) - 1)

    def step(self, x: float) -> float:
        """Add one value and return the current window mean."""
        self.total = self.total + x
        self.sums.append(self.total)
        return (self.total - self.sums[0]) / (len(self.sums) - 1)

    def run(self, xs: np.ndarray) -> np.ndarray:
        """Add many values; element t is the window mean after value t."""
        xs = np.asarray(xs, dtype=float)
        if xs.size == 0:
            return xs.copy()
        prior = np.array(self.sums, dtype=float)
        cum = np.cumsum(np.concatenate(([self.total], xs)))[1:]
        allsums = np.concatenate((prior, cum))
        pos = np.arange(prior.size, allsums.size)
        lo = np.maximum(pos - self.k, 0)
        out: np.ndarray = (allsums[pos] - allsums[lo]) / (pos - lo)
        self.total = float(cum[-1])
        self.sums = deque(allsums[-(self.k + 1) :].tolist(), maxlen=self.k + 1)
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"k": self.k, "total": self.total, "sums": list(self.sums)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RollingMean:
        """Rebuild from ``to_state``."""
        return cls(int(state["k"]), float(state["total"]), [float(s) for s in state["sums"]])


class SlidingMax:
    """Maximum of the ``h`` values before the current one (a monotonic deque, O(1) amortised).

    ``query_push(x)`` returns the maximum of the previous ``h`` values (-inf when none)
    and then records ``x``. The deque keeps only values that can still be a maximum.
    """

    __slots__ = ("h", "index", "idx", "val")

    def __init__(
        self, h: int, index: int = 0, idx: list[int] | None = None, val: list[float] | None = None
    ) -> None:
        self.h = h
        self.index = index  # position the next value will take
        self.idx: deque[int] = deque(idx or [])
        self.val: deque[float] = deque(val or [])

    def query_push(self, x: float) -> float:
        """Maximum of the previous ``h`` values, then add ``x``."""
        t = self.index
        while self.idx and self.idx[0] < t - self.h:
            self.idx.popleft()
            self.val.popleft()
        best = self.val[0] if self.val else -math.inf
        while self.val and self.val[-1] <= x:
            self.idx.pop()
            self.val.pop()
        self.idx.append(t)
        self.val.append(x)
        self.index = t + 1
        return best

    def run(self, xs: np.ndarray) -> np.ndarray:
        """``query_push`` over many values, vectorised (van Herk/Gil-Werman blocks)."""
        xs = np.asarray(xs, dtype=float)
        n = xs.size
        if n == 0:
            return xs.copy()
        t = self.index + np.arange(n)
        # Part A: the stored deque, decreasing in value, so the first entry inside the window wins.
        old_idx = np.array(self.idx, dtype=np.int64)
        old_val = np.array(self.val, dtype=float)
        from_old = np.full(n, -np.inf)
        if old_idx.size:
            first = np.searchsorted(old_idx, t - self.h, side="left")
            inside = first < old_idx.size
            from_old[inside] = old_val[first[inside]]
        # Part B: the new values before t within the window.
        from_new = _past_window_max(xs, self.h)
        out: np.ndarray = np.maximum(from_old, from_new)
        # New deque: entries of the last h+1 positions strictly above everything after them.
        all_idx = np.concatenate((old_idx, t))
        all_val = np.concatenate((old_val, xs))
        end = self.index + n
        keep = all_idx >= end - self.h - 1
        all_idx, all_val = all_idx[keep], all_val[keep]
        later_max = np.maximum.accumulate(all_val[::-1])[::-1]
        later_max = np.concatenate((later_max[1:], [-np.inf]))
        strict = all_val > later_max
        self.idx = deque(all_idx[strict].tolist())
        self.val = deque(all_val[strict].tolist())
        self.index = end
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"h": self.h, "index": self.index, "idx": list(self.idx), "val": list(self.val)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SlidingMax:
        """Rebuild from ``to_state``."""
        return cls(
            int(state["h"]),
            int(state["index"]),
            [int(i) for i in state["idx"]],
            [float(v) for v in state["val"]],
        )


def _past_window_max(xs: np.ndarray, h: int) -> np.ndarray:
    """out[t] = max(xs[max(0, t-h) : t]), -inf for t = 0."""
    n = xs.size
    out = np.full(n, -np.inf)
    if n < 2:
        return out
    g = xs[:-1]  # out[t] looks at g[t-h .. t-1]
    nb = -(-g.size // h)
    padded = np.full(nb * h, -np.inf)
    padded[: g.size] = g
    blocks = padded.reshape(nb, h)
    prefix = np.maximum.accumulate(blocks, axis=1).ravel()
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    j = np.arange(g.size)
    lo = j - h + 1
    expanding = np.maximum.accumulate(g)
    out[1:] = np.where(lo <= 0, expanding, np.maximum(suffix[np.maximum(lo, 0)], prefix[j]))
    return out


class Lag:
    """The value ``lag`` steps back (None until there is one), from a ring buffer."""

    __slots__ = ("lag", "buf")

    def __init__(self, lag: int, buf: list[float] | None = None) -> None:
        self.lag = lag
        self.buf: deque[float] = deque(buf or [], maxlen=lag)

    def step(self, x: float) -> float | None:
        """Return the value ``lag`` steps before ``x`` (None if too early), then store ``x``."""
        back = self.buf[0] if len(self.buf) == self.lag else None
        self.buf.append(x)
        return back

    def run(self, xs: np.ndarray) -> np.ndarray:
        """Lagged values of many points; NaN where there is none yet."""
        xs = np.asarray(xs, dtype=float)
        joined = np.concatenate((np.array(self.buf, dtype=float), xs))
        pad = self.lag - len(self.buf)
        lagged = np.concatenate((np.full(max(pad, 0), np.nan), joined))[: xs.size]
        self.buf = deque(joined[-self.lag :].tolist(), maxlen=self.lag)
        return lagged

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"lag": self.lag, "buf": list(self.buf)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Lag:
        """Rebuild from ``to_state``."""
        return cls(int(state["lag"]), [float(v) for v in state["buf"]])
