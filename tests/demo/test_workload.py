"""The demo workload crosses the example rules' thresholds when the README says it does."""

from __future__ import annotations

from promalert.demo.workload import CYCLE, Workload


def test_cpu_runs_hot_only_in_the_hot_window() -> None:
    w = Workload()
    assert w.cpu(10.0, "web-1") < 90
    assert w.cpu(25.0, "web-1") > 90
    assert w.cpu(25.0 + CYCLE, "web-1") > 90
    assert w.cpu(25.0, "web-2") < 90
    assert w.cpu(75.0, "web-1") < 90


def test_queue_rises_above_100_and_drains_below_50() -> None:
    w = Workload()
    assert w.queue_depth(5.0) == 0.0
    assert w.queue_depth(45.0) == 150.0
    assert w.queue_depth(90.0) < 50.0


def test_error_counter_grows_only_in_the_error_window() -> None:
    w = Workload()
    assert w.requests(29.0, "web-1", "500") == 0.0
    assert w.requests(40.0, "web-1", "500") == 100.0
    assert w.requests(CYCLE + 40.0, "web-1", "500") == 500.0
    assert w.requests(40.0, "web-2", "500") == 0.0
    total = w.requests(40.0, "web-1", "200") + w.requests(40.0, "web-1", "500")
    assert total == 4000.0


def test_render_is_valid_exposition_text() -> None:
    text = Workload().render(25.0)
    assert 'demo_cpu_usage_percent{instance="web-1"}' in text
    assert 'demo_queue_depth{queue="orders"}' in text
    assert text.endswith("\n")
