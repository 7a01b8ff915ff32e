"""The ``promalert`` command line: run, check, demo, detect."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from promalert import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promalert",
        description="Prometheus-native alert rules, routing, escalation and notification.",
    )
    parser.add_argument("--version", action="version", version=f"promalert {__version__}")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: info)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the service")
    run.add_argument("--config", default="promalert.yml", help="config file (default: %(default)s)")

    check = sub.add_parser("check", help="validate the config, rule files and templates")
    check.add_argument("--config", default=None, help="config file to check")
    check.add_argument("rule_files", nargs="*", metavar="RULE_FILE", help="rule files to check")

    demo = sub.add_parser("demo", help="run a local demo: Prometheus, a workload, rules, an inbox")
    demo.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: never)"
    )
    demo.add_argument(
        "--dir", default="demo-data", help="folder for the demo's files (default: %(default)s)"
    )

    detect = sub.add_parser("detect", help="score a CSV time series with an anomaly detector")
    detect.add_argument("--detector", default="ensemble", help="detector name (default: ensemble)")
    detect.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="detector parameter (repeatable)",
    )
    detect.add_argument("input", metavar="INPUT.csv", help="CSV with timestamp,value")
    detect.add_argument("-o", "--output", default=None, help="output CSV (default: stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "check":
        from promalert.check import run_check

        return run_check(args.config, args.rule_files, sys.stdout)
    if args.command == "run":
        from promalert.service import run_service

        return asyncio.run(run_service(args.config))
    if args.command == "demo":
        from promalert.demo.run import run_demo

        return asyncio.run(run_demo(args.dir, args.duration))
    if args.command == "detect":
        from promalert.detect.cli import run_detect

        return run_detect(args.input, args.output, args.detector, args.param)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects others
