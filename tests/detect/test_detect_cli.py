"""``promalert detect`` CSV input and output (run_detect), and its errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from promalert.detect import make_detector
from promalert.detect.cli import parse_timestamp, run_detect


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "timestamp,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def series_rows(n: int = 300) -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    values = rng.normal(10, 1, n)
    values[n * 5 // 6] = 60  # a spike
    return [(f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00", f"{v:.4f}") for i, v in enumerate(values)]


def test_writes_scores_and_echoes_input_verbatim(tmp_path: Path) -> None:
    rows = series_rows()
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    assert run_detect(str(src), str(out), "ensemble", []) == 0
    with out.open(newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == ["timestamp", "value", "anomaly_score"]
    assert [(r[0], r[1]) for r in got[1:]] == rows
    scores = np.array([float(r[2]) for r in got[1:]])
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert (
        scores[250] >= 0.24
    )  # the spike alerts (or is held just under the level by an earlier one)
    # the same scores as the library's batch path
    ts = np.array([parse_timestamp(t) for t, _ in rows])
    expected = make_detector("ensemble").score_batch(ts, np.array([float(v) for _, v in rows]))
    np.testing.assert_allclose(scores, expected.score, rtol=1e-9)


def test_stdout_detector_and_params(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", series_rows(100))
    assert run_detect(str(src), None, "zscore", ["window=20", "warmup=10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    assert len(lines) == 101


@pytest.mark.parametrize(
    "stamp",
    ["2024-03-01 12:00:00", "2024-03-01T12:00:00Z", "2024-03-01T13:00:00+01:00", "1709294400"],
)
def test_timestamp_formats(stamp: str) -> None:
    assert parse_timestamp(stamp) == 1709294400.0


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    assert run_detect(str(missing), None, "ensemble", []) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot read" in err


def test_bad_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", [("1", "2")], header="time,val")
    assert run_detect(str(src), None, "ensemble", []) == 1
    assert f"{src}:1: bad header" in capsys.readouterr().err


def test_non_numeric_value_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = series_rows(10)
    rows[4] = (rows[4][0], "lots")
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    assert run_detect(str(src), str(out), "ensemble", []) == 1
    err = capsys.readouterr().err
    assert f"{src}:6: value 'lots' is not a number" in err  # header is line 1
    assert not out.exists()


def test_bad_timestamp_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", [("yesterday", "1")])
    assert run_detect(str(src), None, "ensemble", []) == 1
    assert f"{src}:2: cannot parse timestamp 'yesterday'" in capsys.readouterr().err


def test_bad_detector_or_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", series_rows(10))
    assert run_detect(str(src), None, "nope", []) == 1
    assert "unknown detector 'nope'" in capsys.readouterr().err
    assert run_detect(str(src), None, "ewma", ["alpha"]) == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert run_detect(str(src), None, "ewma", ["beta=1"]) == 1
    assert "unknown parameter 'beta'" in capsys.readouterr().err


def test_header_only_gives_header_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", [])
    assert run_detect(str(src), None, "ensemble", []) == 0
    assert capsys.readouterr().out == "timestamp,value,anomaly_score\n"
