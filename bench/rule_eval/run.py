"""Benchmark rule evaluation: vmalert 1.79 and promalert on one rule file against one Prometheus.

A live exporter serves 10,000 series to a real Prometheus; one rule file holds 10 groups of
100 Prometheus alerting rules (``bench_value{grp="17"} > 90``, each matching ~10 of its 100
series). vmalert and then promalert load that file, one after the other; for each, after a
warm-up, the benchmark records every group cycle's duration and the process's CPU seconds,
then prints per-group medians, CPU seconds per cycle and PASS/FAIL against the targets
(promalert's median group cycle at most 1.5x vmalert's; every promalert group cycle < 1 s).

Usage: .venv/bin/python bench/rule_eval/run.py [--cycles N] [--rounds N] ... (see --help)
Exit status: 0 when the figures were measured (whether or not they meet the targets), 1 when
something failed to run or a tool's evaluations failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import select
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from types import FrameType

import files
import pyspy
from procs import (
    BenchError,
    Child,
    Children,
    cpu_seconds,
    free_port,
    host_busy_seconds,
    http_get,
    http_ok,
    own_cpu_seconds,
    wait_until,
)
from report import Result, print_report, write_json
from scrape import PROMALERT, VMALERT, CycleLog, Probe, Reading, read
from sink import Sink

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROMETHEUS = "/usr/bin/prometheus"
VMALERT_BIN = "/usr/bin/vmalert"
PROMALERT_BIN = ROOT / ".venv" / "bin" / "promalert"
TOOLS = ("vmalert", "promalert")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cycles", type=int, default=6, help="measured cycles (default: 6)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the tools this many times and pool the figures (default: 1)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up cycles (default: 3)")
    parser.add_argument("--interval", type=int, default=5, help="scrape/eval seconds (default: 5)")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of: vmalert,promalert"
    )
    parser.add_argument(
        "--no-templates",
        action="store_true",
        help="rules without labels/annotations (measures query and state handling only)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        default=None,
        help="profile promalert's measured window with py-spy into FILE (collapsed stacks)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=None,
        help="seconds between reads of a tool's /metrics (default: half the interval)",
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="also write figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    args = parser.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(args.tools) - set(TOOLS)
    if unknown or not args.tools:
        parser.error(f"--tools: expected names from {', '.join(TOOLS)}")
    if args.cycles < 1 or args.warmup < 1 or args.rounds < 1 or args.interval < 2:
        parser.error("--cycles, --warmup and --rounds must be >= 1, --interval >= 2")
    if args.poll is None:
        args.poll = args.interval / 2
    if not 0.1 <= args.poll < args.interval:
        parser.error("--poll must be at least 0.1 and below --interval")
    return args


def _start_exporter(children: Children) -> tuple[Child, str]:
    """Start the exporter and return it with its host:port (it prints the port)."""
    child = children.start(
        "exporter", [sys.executable, str(HERE / "exporter.py")], stdout_pipe=True
    )
    assert child.popen.stdout is not None
    ready, _, _ = select.select([child.popen.stdout], [], [], 30.0)
    line = child.popen.stdout.readline().decode().strip() if ready else ""
    if not line.isdigit():
        child.check_alive()
        raise BenchError(f"exporter printed no port (got {line!r})")
    return child, f"127.0.0.1:{line}"


def _prom_count(prometheus: str) -> int:
    query = urllib.parse.urlencode({"query": "count(bench_value)"})
    doc = json.loads(http_get(f"{prometheus}/api/v1/query?{query}"))
    result = doc["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def _start_prometheus(
    children: Children, tmp: Path, exporter: str, interval: int
) -> tuple[Child, str]:
    """Start Prometheus with a fresh TSDB and wait until it holds every series."""
    files.write_prometheus(tmp / "prometheus.yml", exporter, interval)
    port = free_port()
    child = children.start(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_until("Prometheus to be ready", http_ok(f"{url}/-/ready"), child, 60)
    wait_until(
        "Prometheus to scrape all series",
        lambda: _prom_count(url) == files.SERIES,
        child,
        6 * interval + 30,
    )
    time.sleep(interval)  # one more scrape, so every rule sees a fresh sample
    return child, url


def _start_tool(
    tool: str, children: Children, tmp: Path, prometheus: str, sink: Sink, interval: int
) -> tuple[Child, str, Probe, str]:
    """Start ``tool`` on the rule file; return it, its /metrics URL, probe and sink path."""
    port = free_port()
    rules = tmp / "rules.yml"
    if tool == "vmalert":
        argv = [
            VMALERT_BIN,
            f"-rule={rules}",
            f"-datasource.url={prometheus}",
            f"-notifier.url={sink.url}",
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-evaluationInterval={interval}s",
        ]
        return (
            children.start(tool, argv, cwd=tmp),
            f"http://127.0.0.1:{port}/metrics",
            VMALERT,
            "/api/v2/alerts",
        )
    config = tmp / "promalert.yml"
    for old in tmp.glob("state.db*"):
        old.unlink()  # every round starts from empty state, as vmalert does
    files.write_promalert(
        config, rules, prometheus, f"127.0.0.1:{port}", f"{sink.url}/hook", interval
    )
    argv = [str(PROMALERT_BIN), "run", "--config", str(config)]
    return (
        children.start(tool, argv, cwd=tmp),
        f"http://127.0.0.1:{port}/metrics",
        PROMALERT,
        "/hook",
    )


def _measure(
    tool: str,
    children: Children,
    tmp: Path,
    prometheus: tuple[Child, str],
    sink: Sink,
    args: argparse.Namespace,
    profile: bool,
) -> Result:
    """Run one tool through its warm-up and measured window, then stop it."""
    child, metrics_url, probe, sink_path = _start_tool(
        tool, children, tmp, prometheus[1], sink, args.interval
    )
    sent_before = sink.counts(sink_path)

    def reading() -> Reading:
        return read(probe, http_get(metrics_url).decode())

    def warmed_up() -> bool:
        its = reading().iterations
        return len(its) == files.GROUPS and min(its.values()) >= args.warmup

    print(f"# {tool}: started (pid {child.pid}), warming up {args.warmup} cycles", flush=True)
    wait_until(
        f"{tool} to complete {args.warmup} cycles of every group",
        warmed_up,
        child,
        (args.warmup + 4) * args.interval + 60,
    )
    start = reading()
    cpu0 = cpu_seconds(child.pid)
    prom_cpu0 = cpu_seconds(prometheus[0].pid)
    # CPU the host spent on anything but the benchmark and its children: other work.
    others0 = host_busy_seconds() - children.cpu_seconds() - own_cpu_seconds()
    t0 = time.monotonic()
    log = CycleLog(probe, start)
    window = float(args.cycles * args.interval)
    print(f"# {tool}: measuring {args.cycles} cycles ({window:.0f} s)", flush=True)
    spy = None
    if profile:
        spy = pyspy.start(children, child.pid, window, Path(args.py_spy).resolve())
    # Read /metrics more often than cycles complete, so each cycle is seen on its own, but
    # not much more: rendering promalert's /metrics (2,000+ series) blocks its event loop for
    # tens of milliseconds, which a 1 s poll would add to the cycles being measured.
    polls = math.ceil(window / args.poll)
    for k in range(1, polls + 1):
        time.sleep(max(0.0, t0 + k * args.poll - time.monotonic()))
        child.check_alive()
        now = reading()
        log.update(now, time.monotonic() - t0)
    cpu = cpu_seconds(child.pid) - cpu0
    prom_cpu = cpu_seconds(prometheus[0].pid) - prom_cpu0
    others = host_busy_seconds() - children.cpu_seconds() - own_cpu_seconds() - others0
    elapsed = time.monotonic() - t0
    if spy is not None:
        # py-spy stops by itself after the window; give it time to write the file.
        wait_until("py-spy to write its profile", lambda: spy.popen.poll() is not None, None, 30)
    child.stop()
    return Result(
        tool=tool,
        cycles=log.cycles,
        timeline=log.timeline,
        group_cycles=log.completed(),
        window=elapsed,
        cpu=cpu,
        prometheus_cpu=prom_cpu,
        other_cpu=max(0.0, others),
        errors=now.errors - start.errors,
        firing=now.firing,
        pending=now.pending,
        sink=sink.counts(sink_path) - sent_before,
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Run the benchmark and print its figures."""
    args = _args()
    signal.signal(signal.SIGTERM, _on_sigterm)
    for binary in [PROMETHEUS] + ([VMALERT_BIN] if "vmalert" in args.tools else []):
        if not Path(binary).exists():
            print(
                f"error: {binary} is missing (Debian: apt-get install prometheus victoria-metrics)",
                file=sys.stderr,
            )
            return 1
    if args.py_spy and pyspy.find_pyspy() is None:
        print("error: --py-spy needs py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-rule-eval-"))
    results: list[Result] = []
    try:
        with Sink() as sink, Children(tmp) as children:
            _, exporter = _start_exporter(children)
            print(f"# exporter on {exporter}; starting Prometheus (interval {args.interval}s)")
            prometheus = _start_prometheus(children, tmp, exporter, args.interval)
            print(f"# Prometheus on {prometheus[1]} holds {files.SERIES} series", flush=True)
            files.write_rules(tmp / "rules.yml", args.interval, templates=not args.no_templates)
            for round_ in range(args.rounds):
                for tool in args.tools:
                    profile = bool(args.py_spy) and tool == "promalert" and round_ == 0
                    results.append(_measure(tool, children, tmp, prometheus, sink, args, profile))
        print_report(results, args)
        if args.json:
            write_json(Path(args.json), results, args)
        if args.py_spy and "promalert" in args.tools:
            print()
            print(pyspy.summary(Path(args.py_spy)))
        return 1 if any(r.errors or not r.group_cycles for r in results) else 0
    except BenchError as exc:
        if results:
            print_report(results, args)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"# kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
