"""The benchmark's figures per tool and the table it prints."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import files
from scrape import median, quantile
from sink import SinkCounts

TARGET_RATIO = 1.5  # promalert's median group cycle at most this times vmalert's
TARGET_MAX = 1.0  # seconds; every promalert group cycle below this
BUSY_HOST = 0.3  # cores of other work above which the figures are flagged


@dataclass(frozen=True, slots=True)
class Result:
    """What one tool did during its measured window."""

    tool: str
    cycles: dict[str, list[float]]  # group -> seconds of each cycle seen in the window
    timeline: list[tuple[float, str, float]]  # (seconds into the window, group, cycle seconds)
    group_cycles: int  # group cycles completed in the window, seen one by one or not
    window: float  # seconds
    cpu: float  # CPU seconds (user + system) used in the window
    prometheus_cpu: float  # CPU seconds Prometheus used in the same window
    other_cpu: float  # CPU seconds the host spent on other work (not ours) in the window
    errors: float  # failed rule evaluations in the window
    firing: float  # alerts firing at the end of the window
    pending: float
    sink: SinkCounts  # notifications the sink received from this tool

    @property
    def file_cycles(self) -> float:
        """Cycles of the whole rule file (all groups) completed in the window."""
        return self.group_cycles / files.GROUPS

    @property
    def cpu_per_cycle(self) -> float:
        """CPU seconds per evaluation of the whole rule file."""
        return self.cpu / self.file_cycles if self.group_cycles else math.nan

    @property
    def prometheus_cpu_per_cycle(self) -> float:
        """Prometheus's CPU seconds per evaluation of the whole rule file."""
        return self.prometheus_cpu / self.file_cycles if self.group_cycles else math.nan

    def all_cycles(self) -> list[float]:
        """Every group cycle seen, over all groups."""
        return [c for cs in self.cycles.values() for c in cs]

    def median(self) -> float:
        """Median of every group cycle seen."""
        return median(self.all_cycles())

    def p90(self) -> float:
        """90th percentile of every group cycle seen."""
        return quantile(self.all_cycles(), 0.9)

    def longest(self) -> float:
        """The longest group cycle seen."""
        return max(self.all_cycles(), default=math.nan)


def pool(results: list[Result]) -> list[Result]:
    """One Result per tool, pooling the rounds: cycles concatenated, counts added."""
    pooled: dict[str, Result] = {}
    for r in results:
        p = pooled.get(r.tool)
        if p is None:
            pooled[r.tool] = r
            continue
        cycles = {g: p.cycles.get(g, []) + r.cycles.get(g, []) for g in p.cycles | r.cycles}
        offset = p.window
        pooled[r.tool] = Result(
            tool=r.tool,
            cycles=cycles,
            timeline=p.timeline + [(offset + at, g, s) for at, g, s in r.timeline],
            group_cycles=p.group_cycles + r.group_cycles,
            window=p.window + r.window,
            cpu=p.cpu + r.cpu,
            prometheus_cpu=p.prometheus_cpu + r.prometheus_cpu,
            other_cpu=p.other_cpu + r.other_cpu,
            errors=p.errors + r.errors,
            firing=r.firing,
            pending=r.pending,
            sink=p.sink + r.sink,
        )
    return list(pooled.values())


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    """Print the per-group table, the totals and the verdicts against the targets."""
    results = pool(results)
    by_tool = {r.tool: r for r in results}
    names = [r.tool for r in results]
    groups = [f"bench-{g}" for g in range(files.GROUPS)]
    width, col = 34, 15
    print()
    print(
        f"rule_eval: {files.GROUPS} groups x {files.RULES_PER_GROUP} rules over "
        f"{files.SERIES} series, interval {args.interval}s, "
        f"{args.rounds} x {args.cycles} measured cycles after {args.warmup} warm-up, "
        f"/metrics read every "
        f"{args.poll:g}s, "
        f"{'no templates' if args.no_templates else 'with label and annotation templates'}"
    )
    print("median group cycle per group, ms (each cycle's own duration; see README)")
    print(f"{'group':<{width}}" + "".join(f"{n:>{col}}" for n in names))
    for g in groups:
        row = [_ms(median(by_tool[n].cycles.get(g, []))) for n in names]
        print(f"{g:<{width}}" + "".join(f"{v:>{col}}" for v in row))

    def line(label: str, values: list[str]) -> None:
        print(f"{label:<{width}}" + "".join(f"{v:>{col}}" for v in values))

    line("median of all group cycles, ms", [_ms(r.median()) for r in results])
    line("p90 of all group cycles, ms", [_ms(r.p90()) for r in results])
    line("max group cycle, ms", [_ms(r.longest()) for r in results])
    line(
        "group cycles seen / completed",
        [f"{len(r.all_cycles())}/{r.group_cycles}" for r in results],
    )
    line("CPU s per cycle (all 10 groups)", [f"{r.cpu_per_cycle:.3f}" for r in results])
    line("CPU s in window / window s", [f"{r.cpu:.2f}/{r.window:.0f}" for r in results])
    line("Prometheus CPU s per cycle", [f"{r.prometheus_cpu_per_cycle:.3f}" for r in results])
    line("other work on the host, cores", [f"{r.other_cpu / r.window:.2f}" for r in results])
    line("failed rule evaluations", [f"{r.errors:.0f}" for r in results])
    line("alerts firing / pending at end", [f"{r.firing:.0f}/{r.pending:.0f}" for r in results])
    line("sink: posts / alerts received", [f"{r.sink.posts}/{r.sink.alerts}" for r in results])
    for r in results:
        if r.errors:
            print(f"WARNING: {r.tool} failed {r.errors:.0f} rule evaluations; figures are invalid")
        if r.other_cpu / r.window > BUSY_HOST:
            print(
                f"WARNING: other work used {r.other_cpu / r.window:.1f} cores of the host while "
                f"{r.tool} was measured; its figures are inflated (run again on a quiet host)"
            )
        if not r.firing + r.pending:
            print(f"WARNING: {r.tool} reports no active alerts; did it evaluate the rules?")
    if "vmalert" in by_tool and "promalert" in by_tool:
        vm, pa = by_tool["vmalert"], by_tool["promalert"]
        ratio = pa.median() / vm.median()
        cpu_ratio = pa.cpu_per_cycle / vm.cpu_per_cycle
        print(f"ratio promalert/vmalert: median group cycle {ratio:.2f}x, CPU {cpu_ratio:.2f}x")
        verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
        print(
            f"{verdict}  promalert median group cycle <= {TARGET_RATIO}x vmalert's "
            f"({_ms(pa.median())} ms vs {_ms(vm.median())} ms: {ratio:.2f}x)"
        )
    if "promalert" in by_tool:
        pa = by_tool["promalert"]
        verdict = "PASS" if pa.longest() < TARGET_MAX else "FAIL"
        longest = _ms(pa.longest())
        print(f"{verdict}  every promalert group cycle < {TARGET_MAX:.0f} s (max {longest} ms)")


def write_json(path: Path, results: list[Result], args: argparse.Namespace) -> None:
    """Write the settings and every measured figure, each cycle included, as JSON."""
    results = pool(results)
    doc = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "py_spy", "keep")},
        "results": [
            {
                **{f: getattr(r, f) for f in ("tool", "cycles", "group_cycles", "window")},
                **{f: getattr(r, f) for f in ("cpu", "prometheus_cpu", "other_cpu", "errors")},
                **{f: getattr(r, f) for f in ("firing", "pending")},
                "sink": {"posts": r.sink.posts, "alerts": r.sink.alerts},
                "cpu_per_cycle": r.cpu_per_cycle,
                "median": r.median(),
                "p90": r.p90(),
                "max": r.longest(),
                "timeline": r.timeline,
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(doc, indent=1))
