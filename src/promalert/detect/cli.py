"""``promalert detect``: score a ``timestamp,value`` CSV with a detector (SPEC §3)."""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import numpy as np

from promalert.detect import make_detector


class InputError(ValueError):
    """The input CSV or the command line is unusable; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Series:
    """A parsed input file: timestamps as unix seconds, plus the original text of each row."""

    timestamps: np.ndarray
    values: np.ndarray
    raw: list[tuple[str, str]]


def parse_timestamp(text: str) -> float:
    """Unix seconds from unix seconds, ``YYYY-MM-DD HH:MM:SS`` or RFC 3339 (naive means UTC)."""
    token = text.strip()
    try:
        number = float(token)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
        raise ValueError(f"timestamp {text!r} is not finite")
    try:
        moment = datetime.fromisoformat(token)
    except ValueError:
        raise ValueError(
            f"cannot parse timestamp {text!r} "
            "(expected YYYY-MM-DD HH:MM:SS, RFC 3339 or unix seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read_series(path: str, stream: TextIO) -> Series:
    """Parse a ``timestamp,value`` CSV; errors name the file and the 1-based line."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise InputError(f"{path}:1: empty file (expected a header row 'timestamp,value')")
    if [h.strip().lower() for h in header] != ["timestamp", "value"]:
        raise InputError(f"{path}:1: bad header {','.join(header)!r} (expected 'timestamp,value')")
    stamps: list[float] = []
    values: list[float] = []
    raw: list[tuple[str, str]] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines carry no point
        if len(row) != 2:
            raise InputError(f"{path}:{line}: expected 2 fields (timestamp,value), got {len(row)}")
        try:
            stamps.append(parse_timestamp(row[0]))
        except ValueError as exc:
            raise InputError(f"{path}:{line}: {exc}") from None
        try:
            value = float(row[1])
        except ValueError:
            raise InputError(f"{path}:{line}: value {row[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{path}:{line}: value {row[1]!r} is not a finite number")
        values.append(value)
        raw.append((row[0], row[1]))
    return Series(np.array(stamps, dtype=float), np.array(values, dtype=float), raw)


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings to a dict; the detector converts and validates the values."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        params[key.strip()] = value.strip()
    return params


def write_scores(out: TextIO, series: Series, scores: np.ndarray) -> None:
    """Write ``timestamp,value,anomaly_score`` with the input's text echoed verbatim."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    for (stamp, value), score in zip(series.raw, scores.tolist(), strict=True):
        writer.writerow([stamp, value, format(score, ".10g")])


def run_detect(input_path: str, output_path: str | None, detector: str, params: list[str]) -> int:
    """Run ``promalert detect``; returns the exit code (1 with a message on stderr on bad input)."""
    try:
        det = make_detector(detector, parse_params(params))
        try:
            with open(input_path, encoding="utf-8", newline="") as stream:
                series = read_series(input_path, stream)
        except OSError as exc:
            raise InputError(f"{input_path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise InputError(f"{input_path}: not a UTF-8 text file") from None
    except (InputError, ValueError) as exc:
        print(f"promalert detect: {exc}", file=sys.stderr)
        return 1
    scores = det.score_batch(series.timestamps, series.values).score
    if output_path is None or output_path == "-":
        write_scores(sys.stdout, series, scores)
        return 0
    buffer = io.StringIO()
    write_scores(buffer, series, scores)
    try:
        with open(output_path, "w", encoding="utf-8", newline="") as out:
            out.write(buffer.getvalue())
    except OSError as exc:
        print(
            f"promalert detect: {output_path}: cannot write: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    return 0
