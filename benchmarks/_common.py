"""Shared pieces of the benchmarks: timing, a results table, and the workloads."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def trivial(x: int) -> int:
    """The cheapest useful item: what per-item overhead is measured with."""
    return x * 2


def ten_ms(x: int) -> int:
    """An item that waits 10 ms (I/O-like), so the cluster's parallelism shows."""
    time.sleep(0.01)
    return x * 2


@dataclass
class Row:
    """One measurement: ``n`` items of ``workload`` on ``system`` took ``seconds``."""

    workload: str
    system: str
    n: int
    seconds: float
    baseline: float | None = None
    note: str = ""

    @property
    def items_per_second(self) -> float:
        return self.n / self.seconds if self.seconds else float("inf")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs of ``fn`` and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def print_table(rows: list[Row], title: str) -> None:
    """Print rows as a fixed-width table with each row's ratio against its baseline."""
    print(f"\n{title}")
    width = max([24] + [len(row.workload) + 2 for row in rows])
    header = f"{'workload':<{width}}{'system':<34}{'seconds':>10}{'items/s':>14}{'vs baseline':>14}  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        if not math.isfinite(row.seconds):
            print(f"{row.workload:<{width}}{row.system:<34}{'-':>10}{'-':>14}{'-':>14}  {row.note}")
            continue
        ratio = f"{row.seconds / row.baseline:.2f}x" if row.baseline else "baseline"
        print(
            f"{row.workload:<{width}}{row.system:<34}{row.seconds:>10.3f}{row.items_per_second:>14,.0f}{ratio:>14}  {row.note}"
        )
