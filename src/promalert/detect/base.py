"""The detector contract: streaming update, batch score_batch, JSON-able state, typed params."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Score:
    """One scored point: anomaly score in [0, 1] and the expected value with its band."""

    score: float
    expected: float
    lower: float
    upper: float


@dataclass(frozen=True, slots=True)
class ScoreArrays:
    """Scores of many points, one array per field of ``Score``."""

    score: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __len__(self) -> int:
        return int(self.score.size)

    def at(self, i: int) -> Score:
        """The ``Score`` of row ``i``."""
        return Score(
            float(self.score[i]),
            float(self.expected[i]),
            float(self.lower[i]),
            float(self.upper[i]),
        )


class Detector(Protocol):
    """A causal, streaming anomaly detector over one series.

    ``update`` folds in one point and scores it using that point and the ones before it
    only. ``score_batch`` does the same for many points at once (vectorised) and leaves
    the detector in the state successive ``update`` calls would. ``state_dict`` is
    JSON-able; ``from_state`` rebuilds an equivalent detector.
    """

    name: ClassVar[str]

    def update(self, timestamp: float, value: float) -> Score:
        """Score one new point and fold it into the state."""
        ...

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Score many new points in order and fold them into the state."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict."""
        ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a detector from ``state_dict`` output."""
        ...


P = TypeVar("P")


def parse_params(params_type: type[P], detector: str, raw: Mapping[str, object]) -> P:
    """Build a params dataclass from raw values (strings from the CLI are converted).

    Unknown names and values of the wrong type raise ValueError naming the parameter
    and listing the valid ones; range checks live in the dataclass's ``__post_init__``.
    """
    fields = {f.name: f for f in dataclasses.fields(params_type)}  # type: ignore[arg-type]
    valid = ", ".join(sorted(fields))
    kwargs: dict[str, object] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ValueError(
                f"unknown parameter {key!r} for detector {detector!r} (valid: {valid})"
            )
        kwargs[key] = _convert(detector, key, fields[key].type, value, valid)
    try:
        return params_type(**kwargs)
    except ValueError as exc:
        raise ValueError(f"detector {detector!r}: {exc} (valid parameters: {valid})") from None


def _convert(detector: str, key: str, annotation: object, value: object, valid: str) -> object:
    kind = str(annotation)
    try:
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)  # type: ignore[call-overload]
        if kind == "float":
            if isinstance(value, bool):
                raise TypeError
            number = float(value)  # type: ignore[arg-type]
            if not math.isfinite(number):
                raise TypeError
            return number
        if kind == "str":
            return str(value)
    except (TypeError, ValueError):
        pass
    else:
        raise ValueError(f"detector {detector!r}: parameter {key!r} has unsupported type {kind}")
    raise ValueError(
        f"invalid value {value!r} for parameter {key!r} of detector {detector!r}: "
        f"expected {kind} (valid parameters: {valid})"
    )


def check(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition``; used by params ``__post_init__``."""
    if not condition:
        raise ValueError(message)


def params_state(params: object) -> dict[str, Any]:
    """A params dataclass as a JSON-able dict."""
    return dataclasses.asdict(params)  # type: ignore[call-overload, no-any-return]


def check_state(state: Mapping[str, Any], name: str) -> None:
    """Reject a state written by another detector or another state version."""
    if state.get("detector") != name or state.get("version") != STATE_VERSION:
        raise ValueError(
            f"state is for detector {state.get('detector')!r} version {state.get('version')!r}, "
            f"not {name!r} version {STATE_VERSION}"
        )


class _Restorable(Protocol):
    """What :func:`restore` needs of a detector class: a name, params and a point count."""

    name: ClassVar[str]
    count: int

    def __init__(self, params: Any) -> None: ...


R = TypeVar("R", bound=_Restorable)


def state_header(detector: Any) -> dict[str, Any]:
    """The part every detector's ``state_dict`` starts with: name, version, params, count."""
    return {
        "detector": detector.name,
        "version": STATE_VERSION,
        "params": params_state(detector.params),
        "count": detector.count,
    }


def restore(cls: type[R], params_type: type[Any], state: Mapping[str, Any]) -> R:
    """A new ``cls`` detector with the params and count of ``state`` (the header's part)."""
    check_state(state, cls.name)
    detector = cls(params_type(**state["params"]))
    detector.count = int(state["count"])
    return detector


def as_arrays(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert batch inputs to float arrays of the same length."""
    ts = np.asarray(timestamps, dtype=float).ravel()
    vs = np.asarray(values, dtype=float).ravel()
    if ts.size != vs.size:
        raise ValueError(f"timestamps ({ts.size}) and values ({vs.size}) differ in length")
    return ts, vs
