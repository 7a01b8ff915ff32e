"""Optional py-spy profile of promalert during its measured window, with a text summary."""

from __future__ import annotations

import collections
import shutil
import sys
from pathlib import Path

from procs import Child, Children


def find_pyspy() -> str | None:
    """The py-spy executable next to this interpreter or on PATH, if installed."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(children: Children, pid: int, seconds: float, out: Path) -> Child:
    """Sample ``pid`` for ``seconds`` into ``out`` as collapsed stacks (one line per stack)."""
    exe = find_pyspy()
    if exe is None:
        raise FileNotFoundError("py-spy is not installed (.venv/bin/pip install py-spy)")
    argv = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        # Sample without pausing promalert, so the profile disturbs the timing less.
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return children.start("py-spy", argv)


def summary(collapsed: Path, top: int = 20) -> str:
    """The functions with the most samples of their own and in total, as text lines."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    if not samples:
        return "py-spy: no samples"
    lines = [f"py-spy: {samples} samples; own time (top {top}):"]
    lines += [f"  {n / samples:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append(f"py-spy: total time incl. callees (top {top}):")
    lines += [f"  {n / samples:6.1%}  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)
