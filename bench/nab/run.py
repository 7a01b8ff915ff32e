"""NAB benchmark: run ``promalert detect`` (default detector) on every nab-dev file and score it.

Usage: ``python bench/nab/run.py [--data DIR] [--out DIR] [--jobs N]``

Each CSV under DIR/data is scored by the real ``promalert detect`` command, files in
parallel; the outputs are scored with our own implementation of the NAB method
(bench/nab/scorer.py, as described in DIR/README.md) and printed beside the published
detectors' table from that README.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "src"))

from scorer import ProfileResult, score_corpus, window_indices  # noqa: E402

from promalert.detect.cli import parse_timestamp, run_detect  # noqa: E402


def find_command() -> list[str] | None:
    """The ``promalert`` console script, if installed and ``detect`` is wired; else None."""
    candidates = [shutil.which("promalert"), str(Path(sys.executable).parent / "promalert")]
    for exe in candidates:
        if exe and Path(exe).exists():
            probe = subprocess.run(
                [exe, "detect", "--help"], capture_output=True, text=True, timeout=60
            )
            if probe.returncode == 0:
                return [exe]
    return None


def _in_process(job: tuple[str, str]) -> int:
    return run_detect(job[0], job[1], "ensemble", [])


def detect_all(files: list[Path], out_dir: Path, jobs: int) -> list[Path]:
    """Score every file with ``promalert detect``; returns the output paths."""
    outputs = [out_dir / f"{i:03d}_{f.name}" for i, f in enumerate(files)]
    command = find_command()
    if command is None:
        print(
            "promalert console script not installed or 'promalert detect' not wired; "
            "falling back to calling promalert.detect.cli.run_detect in-process "
            "(install with: pip install -e . )",
            file=sys.stderr,
        )
        with multiprocessing.Pool(jobs) as pool:
            codes = pool.map(
                _in_process, [(str(f), str(o)) for f, o in zip(files, outputs, strict=True)]
            )
    else:

        def one(pair: tuple[Path, Path]) -> int:
            done = subprocess.run([*command, "detect", str(pair[0]), "-o", str(pair[1])])
            return done.returncode

        with ThreadPoolExecutor(jobs) as pool:
            codes = list(pool.map(one, zip(files, outputs, strict=True)))
    failed = [str(f) for f, code in zip(files, codes, strict=True) if code != 0]
    if failed:
        raise SystemExit(f"promalert detect failed on: {', '.join(failed)}")
    return outputs


def read_output(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (unix seconds) and anomaly scores of one ``promalert detect`` output."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    stamps = np.array([parse_timestamp(r["timestamp"]) for r in rows])
    return stamps, np.array([float(r["anomaly_score"]) for r in rows])


def published_table(readme: Path) -> list[tuple[str, str, str]]:
    """Rows (detector, this subset, whole corpus) of the README's published table."""
    rows: list[tuple[str, str, str]] = []
    in_table = False
    for line in readme.read_text().splitlines():
        if line.startswith("## Published detectors"):
            in_table = True
        elif in_table and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) >= 3 and cells[0] != "detector":
                rows.append((cells[0], cells[1], cells[2]))
        elif in_table and rows and not line.startswith("|"):
            break
    return rows


def report(results: list[ProfileResult], published: list[tuple[str, str, str]]) -> str:
    """The three profile scores and the standard score ranked among the published ones."""
    lines = ["NAB scores of promalert ensemble (our scorer, one threshold per profile):"]
    for r in results:
        lines.append(
            f"  {r.profile.name:<20} {r.normalised:6.1f}   threshold {r.threshold:.4f}  "
            f"TP {r.tp}  FP {r.fp}  FN {r.fn}"
        )
    ours = f"{results[0].normalised:.1f}"
    table = [("promalert ensemble (measured)", ours, "-"), *published]
    table.sort(key=lambda row: -float(row[1]))
    lines += ["", "Standard profile on nab-dev beside the published detectors:"]
    lines.append(f"  {'detector':<32} {'this subset':>11}  {'whole corpus':>12}")
    for name, subset, whole in table:
        lines.append(f"  {name:<32} {subset:>11}  {whole:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "nab-dev"))
    parser.add_argument("--out", default=None, help="keep outputs here (default: temp dir)")
    parser.add_argument("--jobs", type=int, default=max(2, multiprocessing.cpu_count()))
    args = parser.parse_args(argv)
    data = Path(args.data)
    labels: dict[str, list[list[str]]] = json.loads((data / "labels.json").read_text())
    names = sorted(labels)
    files = [data / "data" / name for name in names]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(args.out or tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = detect_all(files, out_dir, args.jobs)
        per_file = []
        for name, out in zip(names, outputs, strict=True):
            stamps, scores = read_output(out)
            windows = [(parse_timestamp(a), parse_timestamp(b)) for a, b in labels[name]]
            per_file.append((scores, window_indices(stamps, windows)))
    results = score_corpus(per_file)
    print(report(results, published_table(data / "README.md")))
    print(f"\n{len(files)} files, {time.monotonic() - started:.1f} s wall, {args.jobs} jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
