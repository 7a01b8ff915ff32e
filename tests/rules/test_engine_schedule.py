"""Scheduling: aligned timestamps, missed iterations, concurrency across and within groups."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


async def test_missed_iterations_are_skipped_and_counted(make_engine, ds, clock, metrics):  # type: ignore[no-untyped-def]
    done = asyncio.Event()

    async def slow_first(expr: str, at: datetime) -> None:
        if len(ds.calls) == 1:
            clock.advance(25)  # the first cycle overruns 2.5 intervals of 10 s
        if len(ds.calls) >= 4:
            done.set()

    ds.hook = slow_first
    engine = make_engine({"name": "g", "interval": "10s", "rules": [{"alert": "A", "expr": "x"}]})
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(done.wait(), 5)
    await engine.stop()
    await task
    stamps = [call_at for _, call_at in ds.calls[:4]]
    first = stamps[0]
    assert stamps == [
        first,
        first + timedelta(seconds=20),
        first + timedelta(seconds=30),
        first + timedelta(seconds=40),
    ]
    missed = metrics.registry.get_sample_value(
        "promalert_rule_group_iterations_missed_total", {"group": "g"}
    )
    assert missed == 1


async def test_timestamps_are_aligned_to_a_fixed_offset(make_engine, ds, clock):  # type: ignore[no-untyped-def]
    stamps: list[datetime] = []
    done = asyncio.Event()

    async def record(expr: str, at: datetime) -> None:
        stamps.append(at)
        clock.advance(0.3)  # evaluation takes time; timestamps must not drift
        if len(stamps) == 3:
            done.set()

    ds.hook = record
    start = clock.now()
    engine = make_engine({"name": "g", "interval": "1m", "rules": [{"alert": "A", "expr": "x"}]})
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(done.wait(), 5)
    await engine.stop()
    await task
    assert start < stamps[0] <= start + timedelta(minutes=1)
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [timedelta(minutes=1)] * 2
    # The same group restarted later keeps the same phase.
    again = make_engine({"name": "g", "interval": "1m", "rules": []})
    first = again._first_timestamp(again._groups[0], start + timedelta(hours=5, seconds=17))
    assert (first - stamps[0]) % timedelta(minutes=1) == timedelta(0)


async def test_groups_run_concurrently(make_engine, ds):  # type: ignore[no-untyped-def]
    arrived: set[str] = set()
    both = asyncio.Event()

    async def barrier(expr: str, at: datetime) -> None:
        arrived.add(expr)
        if len(arrived) == 2:
            both.set()
        # Sequential groups would wait here forever: the other query never starts.
        await asyncio.wait_for(both.wait(), 2)

    ds.hook = barrier
    ds.set("x", ({"i": "1"}, 1.0))
    ds.set("y", ({"i": "1"}, 1.0))
    engine = make_engine(
        {"name": "g1", "rules": [{"alert": "A", "expr": "x"}]},
        {"name": "g2", "rules": [{"alert": "B", "expr": "y"}]},
    )
    task = asyncio.create_task(engine.run())
    await asyncio.wait_for(both.wait(), 5)
    for _ in range(100):  # let both cycles finish past the barrier
        if all(s["health"] != "unknown" for s in engine.rule_status()):
            break
        await asyncio.sleep(0)
    await engine.stop()
    await task
    assert [s["health"] for s in engine.rule_status()] == ["ok", "ok"]


async def test_rules_of_a_group_run_concurrently_up_to_the_bound(make_engine, ds, clock):  # type: ignore[no-untyped-def]
    in_flight = 0
    peak = 0

    async def track(expr: str, at: datetime) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1

    ds.hook = track
    rules = [{"alert": f"R{i}", "expr": f"x{i}"} for i in range(7)]
    engine = make_engine({"name": "g", "rules": rules}, concurrency=3)
    await engine.evaluate_group_once("g", clock.now())
    assert peak == 3
    assert len({at for _, at in ds.calls}) == 1, "one timestamp for the whole cycle"
