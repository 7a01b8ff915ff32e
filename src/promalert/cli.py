"""The ``promalert`` command line: run, check, demo, detect."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence

from promalert import __version__
from promalert.client import CLIENT_COMMANDS, add_client_commands, run_client_command


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

    notify = sub.add_parser("notify", help="notification tools")
    notify_sub = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    notify_test = notify_sub.add_parser(
        "test", help="send a test message through every channel of a receiver"
    )
    notify_test.add_argument("receiver", metavar="RECEIVER", help="receiver name")
    notify_test.add_argument(
        "--config", default="promalert.yml", help="config file (default: %(default)s)"
    )

    route = sub.add_parser("route", help="routing tools")
    route_sub = route.add_subparsers(dest="route_command", required=True, metavar="ACTION")
    route_test = route_sub.add_parser(
        "test", help="show the routes and receivers an alert with these labels reaches"
    )
    route_test.add_argument("labels", nargs="+", metavar="LABEL=VALUE", help="the alert's labels")
    route_test.add_argument(
        "--config", default="promalert.yml", help="config file (default: %(default)s)"
    )
    route_test.add_argument(
        "--verify-receivers",
        default=None,
        metavar="A,B",
        help="exit 1 unless exactly these receivers are reached",
    )

    backtest = sub.add_parser("backtest", help="replay a rule over history and show its firings")
    # Let relative times like -7d pass as values, as argparse does for negative numbers.
    backtest._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-(\d+(ms|[smhdwy]))+$")
    backtest.add_argument("--config", default="promalert.yml", help="config (default: %(default)s)")
    backtest.add_argument("--rule", required=True, help="alert name (or GROUP/NAME)")
    backtest.add_argument(
        "--from", dest="start", required=True, help="start: RFC 3339, Unix seconds or -7d"
    )
    backtest.add_argument("--to", dest="end", default="now", help="end (default: now)")
    backtest.add_argument("--plot", default=None, metavar="OUT.png", help="draw the series to PNG")
    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    schema = config_sub.add_parser(
        "schema", help="print the JSON Schema of promalert.yml (or a reference in Markdown)"
    )
    schema.add_argument(
        "--format", choices=["json", "markdown"], default="json", help="(default: %(default)s)"
    )
    add_client_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command in CLIENT_COMMANDS:
        return run_client_command(args)
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
    if args.command == "route":
        from promalert.dispatch.routetest import run_route_test

        return run_route_test(args.config, args.labels, sys.stdout, expect=args.verify_receivers)
    if args.command == "backtest":
        from promalert.rules.backtest import run_backtest_command

        return asyncio.run(
            run_backtest_command(args.config, args.rule, args.start, args.end, args.plot)
        )
    if args.command == "notify":
        from promalert.notify.sendtest import run_notify_test

        return asyncio.run(run_notify_test(args.config, args.receiver, sys.stdout))
    if args.command == "config":
        from promalert.config.schema import run_schema_command

        return run_schema_command(args.format, sys.stdout)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects others
