"""Ingest benchmark: Alertmanager 0.25 and promalert, alerts in through ``/api/v2/alerts``,
one group per alert, out to a local webhook.

    .venv/bin/python bench/ingest/run.py [--alerts 20000] [--steady 10000] [--rate 1000]
                                         [--rounds 3]

For each server, in a fresh process while the other is stopped:

1. throughput: ``--alerts`` alerts posted in batches of ``--batch`` with ``--concurrency``
   posts in flight, as fast as the server answers; alerts/s = alerts delivered to the
   webhook / (last delivery - first post); then resident memory per active alert =
   (RSS with every alert active - RSS idle) / alerts;
2. latency: a new process, ``--steady`` alerts offered at ``--rate`` alerts/s (a batch
   every ``--steady-batch / --rate`` s); p50/p99 of post-to-delivery time per alert.

With ``--rounds N`` (default 3) the pair is measured N times, the order of the two
servers alternating from round to round. This host's speed drifts by a third within
minutes (Alertmanager alone has measured 6,500 and 9,500 alerts/s in consecutive runs),
so each ratio is taken within its round and the verdict is the median of the rounds'
ratios. Prints every round's figures, the medians and the ratios. Binds only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import LoadResult, flood, sink_reset, steady  # noqa: E402
from servers import Server, free_port, start_alertmanager, start_promalert  # noqa: E402

_SINK = Path(__file__).resolve().parent / "sink.py"


@dataclass
class Figures:
    """One server's results."""

    name: str
    throughput: float
    accept_rate: float
    rss_per_alert: float
    cpu_per_1k: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    steady_delivered: int
    flood_delivered: int


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start(name: str, workdir: Path, sink_url: str) -> Server:
    starter = start_alertmanager if name == "alertmanager" else start_promalert
    return starter(workdir, sink_url)


_NONE = LoadResult(0, 0.0, 0.0, 0, [], 0)


def measure(name: str, args: argparse.Namespace, sink_url: str, base: Path) -> Figures:
    """Both loads against fresh processes of one server."""
    result, lat, idle, active, cpu = _NONE, _NONE, 0, 0, 0.0
    if args.loads in ("both", "throughput"):
        sink_reset(sink_url)
        server = _start(name, base / f"{name}-flood", sink_url)
        try:
            time.sleep(1.0)  # let start-up allocations settle before the idle reading
            idle, cpu0 = server.rss(), server.cpu()
            result = asyncio.run(
                flood(server.url, sink_url, args.alerts, args.batch, args.concurrency, "flood", 300)
            )
            time.sleep(0.5)
            active = server.rss()
            cpu = server.cpu() - cpu0
        finally:
            server.stop()
    if args.loads in ("both", "latency"):
        sink_reset(sink_url)
        server = _start(name, base / f"{name}-steady", sink_url)
        try:
            time.sleep(1.0)
            lat = asyncio.run(
                steady(
                    server.url, sink_url, args.steady, args.rate, args.steady_batch, "steady", 120
                )
            )
        finally:
            server.stop()
    ms = [x * 1000 for x in lat.latencies]
    return Figures(
        name=name,
        throughput=result.delivered / result.deliver_seconds if result.deliver_seconds else 0.0,
        accept_rate=result.sent / result.post_seconds if result.post_seconds else 0.0,
        rss_per_alert=(active - idle) / max(result.delivered, 1),
        cpu_per_1k=cpu / max(result.delivered, 1) * 1000,
        p50_ms=statistics.median(ms) if ms else float("nan"),
        p99_ms=_quantile(ms, 0.99),
        max_ms=max(ms, default=float("nan")),
        steady_delivered=lat.delivered,
        flood_delivered=result.delivered,
    )


def _ratio(ours: float, theirs: float) -> str:
    """``1.23x``, or ``-`` when the load that gives these figures did not run."""
    return f"{ours / theirs:6.2f}x" if theirs and ours == ours and theirs == theirs else "     -"


# (label, figure, target) of each ratio, promalert / Alertmanager.
_RATIOS = (
    ("throughput", "throughput", ">= 1"),
    ("accepted", "accept_rate", ">= 1"),
    ("p99 latency", "p99_ms", "<= 1"),
    ("memory/alert", "rss_per_alert", "<= 1"),
)


def _row(label: str, f: Figures) -> str:
    return (
        f"{label:22}{f.throughput:10.0f}{f.accept_rate:12.0f}{f.p50_ms:9.1f}{f.p99_ms:9.1f}"
        f"{f.max_ms:9.1f}{f.rss_per_alert / 1024:10.2f}{f.cpu_per_1k:10.3f}"
        f"{f.flood_delivered:>8}/{f.steady_delivered:<7}"
    )


def _median_figures(name: str, runs: list[Figures]) -> Figures:
    """Each figure's median over the rounds (delivery counts: the fewest)."""

    def med(field: str) -> float:
        values = [getattr(f, field) for f in runs]
        values = [v for v in values if v == v]  # a load that did not run gives NaN
        return statistics.median(values) if values else float("nan")

    return Figures(
        name=name,
        throughput=med("throughput"),
        accept_rate=med("accept_rate"),
        rss_per_alert=med("rss_per_alert"),
        cpu_per_1k=med("cpu_per_1k"),
        p50_ms=med("p50_ms"),
        p99_ms=med("p99_ms"),
        max_ms=med("max_ms"),
        steady_delivered=min(f.steady_delivered for f in runs),
        flood_delivered=min(f.flood_delivered for f in runs),
    )


def report(rounds: list[list[Figures]], args: argparse.Namespace) -> str:
    """Every round's figures, the medians, and promalert/Alertmanager ratios if both ran."""
    lines = [
        f"throughput load: {args.alerts} alerts, batches of {args.batch}, "
        f"{args.concurrency} posts in flight; latency load: {args.steady} alerts at "
        f"{args.rate:g}/s in batches of {args.steady_batch}; {len(rounds)} round(s)",
        "",
        f"{'':22}{'alerts/s':>10}{'accepted/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'KB/alert':>10}{'CPU s/1k':>10}{'delivered':>16}",
    ]
    names = [f.name for f in rounds[0]]
    for number, figures in enumerate(rounds, 1):
        lines += [_row(f"{f.name} ({number})", f) for f in sorted(figures, key=lambda f: f.name)]
    if len(rounds) > 1:
        lines += [
            _row(
                f"{name} (median)",
                _median_figures(name, [f for r in rounds for f in r if f.name == name]),
            )
            for name in sorted(names)
        ]
    if "promalert" in names and "alertmanager" in names:
        lines += ["", "promalert / Alertmanager, each round and the median of the rounds:"]
        for label, field, target in _RATIOS:
            ratios = []
            for figures in rounds:
                by_name = {f.name: getattr(f, field) for f in figures}
                ours, theirs = by_name["promalert"], by_name["alertmanager"]
                if theirs and ours == ours and theirs == theirs:
                    ratios.append(ours / theirs)
            each = " ".join(f"{r:5.2f}" for r in ratios) if ratios else "-"
            median = f"{statistics.median(ratios):5.2f}x" if ratios else "    -"
            lines.append(f"  {label:13} {median}  (target {target})   rounds: {each}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--steady", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--steady-batch", type=int, default=10)
    parser.add_argument("--only", choices=["promalert", "alertmanager"], default=None)
    parser.add_argument(
        "--loads", choices=["both", "throughput", "latency"], default="both", help="which loads"
    )
    parser.add_argument("--rounds", type=int, default=3, help="measurements of the pair")
    args = parser.parse_args()
    names = [args.only] if args.only else ["alertmanager", "promalert"]
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(_SINK), str(sink_port)])
    sink_url = f"http://127.0.0.1:{sink_port}"
    try:
        time.sleep(0.5)
        rounds: list[list[Figures]] = []
        for number in range(max(args.rounds, 1)):
            # Alternating the order: neither server always runs on a host just warmed up.
            order = names if number % 2 == 0 else names[::-1]
            with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                rounds.append([measure(name, args, sink_url, Path(tmp)) for name in order])
            print(f"round {number + 1} done", file=sys.stderr, flush=True)
    finally:
        sink.terminate()
        sink.wait()
    print(report(rounds, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
