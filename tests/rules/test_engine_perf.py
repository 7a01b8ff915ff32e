"""A group of 100 rules each returning 100 series evaluates well under a CPU second."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = 100
SERIES = 100


async def test_hundred_rules_of_hundred_series(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    def answer(expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        grp = expr.split('"')[1]
        shift = (at - T0).total_seconds()
        return [
            (
                {
                    "__name__": "bench_value",
                    "grp": grp,
                    "instance": f"host-{i}:9100",
                    "job": "bench",
                },
                91.0 + (i + shift) % 9,
            )
            for i in range(SERIES)
        ]

    ds.fn = answer
    rules = [
        {
            "alert": f"BenchHigh{r}",
            "expr": f'bench_value{{grp="{r}"}} > 90',
            "for": "10s",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "{{ $labels.instance }} is at {{ $value }}"},
        }
        for r in range(RULES)
    ]
    engine = make_engine({"name": "bench", "interval": "5s", "rules": rules})
    cpu = []
    for cycle in range(4):
        started = time.process_time()
        await engine.evaluate_group_once("bench", T0 + timedelta(seconds=5 * cycle))
        cpu.append(time.process_time() - started)
    assert all(s["health"] == "ok" for s in engine.rule_status())
    assert len(sink.take()) == RULES * SERIES * 2, "fired at 10 s, then updated once"
    # Generous bound for slow CI machines; typical figures are far lower.
    assert max(cpu) < 1.0, cpu
    print("cpu seconds per cycle:", [round(c, 3) for c in cpu])
