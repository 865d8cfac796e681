"""Shared pieces of the benchmarks: timing, a results table, and the workloads."""

from __future__ import annotations

import gc
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from distributed import Client


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


class Cluster:
    """A real ``dask scheduler`` and ``workers`` ``dask worker`` processes (each a nanny and its worker) on loopback."""

    def __init__(
        self, workdir: Path, extra_env: dict[str, str] | None = None, workers: int = 2, nthreads: int = 1
    ) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        environ = {**os.environ, **(extra_env or {})}
        out = open(workdir / "cluster.log", "ab")
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=out,
            stderr=out,
            env=environ,
        )
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", self.address, "--nthreads", str(nthreads), "--no-dashboard"],
                stdout=out,
                stderr=out,
                env=environ,
            )
            for _ in range(workers)
        ]
        with Client(self.address, timeout=30, set_as_default=False) as probe:
            probe.wait_for_workers(workers, timeout=60)

    def worker_pid(self) -> int:
        """The PID of one worker process (the nanny's child), which the nanny restarts when it dies."""
        children = psutil.Process(self.workers[0].pid).children()
        return next(c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline()))

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


class Peaks:
    """The peak RSS of some processes, sampled every 10 ms in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.idle = {name: p.memory_info().rss for name, p in self.processes.items()}
        self.peak = dict(self.idle)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.01):
            for name, process in self.processes.items():
                self.peak[name] = max(self.peak[name], process.memory_info().rss)

    def done(self) -> Peaks:
        self.stop.set()
        self.thread.join()
        return self

    def grown(self, name: str) -> int:
        """How far ``name``'s RSS rose above where it was at the start."""
        return self.peak[name] - self.idle[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
