"""Scheduler cost per item as the cluster grows: 10^5 items of 1 ms (a sleep) on 4, 16 and 64 workers.

The cluster runs in a process of its own (a TCP scheduler and in-process one-thread
workers: this measures scheduling cost, not parallel speed), so the driver's CPU time is
the driver's alone. For each size it prints Dask tasks per item, scheduler transitions
per item, bytes the driver sent to the scheduler per item (its batched stream: graphs,
releases), driver CPU seconds per 10^5 items, and the wall time. Per-item scheduler cost
should stay flat, within 1.2x from 4 to 64 workers: batches keep their size as the
cluster grows instead of becoming more, smaller tasks. ``--raw`` adds raw
``client.map`` at each size.

    python benchmarks/scale.py [--items 100000] [--sizes 4,16,64] [--raw]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import free_port

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="scale_bench")


def one_ms(x: int) -> int:
    time.sleep(0.001)
    return x


one_ms_task = env.task(one_ms)


class Computed(SchedulerPlugin):
    """Counts the Dask tasks that finished on the scheduler."""

    name = "scale-bench-computed"

    def __init__(self) -> None:
        self.count = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish == "memory":
            self.count += 1


def _counters(dask_scheduler: Any) -> tuple[int, int]:
    return dask_scheduler.transition_counter, dask_scheduler.plugins[Computed.name].count


def serve(workers: int, port: int) -> None:
    """The cluster process: a scheduler on ``port`` and ``workers`` in-process workers, until stdin closes."""
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        scheduler_port=port,
        dashboard_address=None,
    ):
        print("ready", flush=True)
        sys.stdin.read()


def measure(client: Client, items: int, raw: bool) -> dict[str, float]:
    transitions, tasks = client.run_on_scheduler(_counters)
    sent = client.scheduler_comm.byte_count
    cpu, start = time.process_time(), time.perf_counter()
    if raw:
        total = sum(client.gather(client.map(one_ms, range(items))))
    else:
        total = sum(flyte.map(one_ms_task, range(items)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert total == sum(range(items))
    transitions_after, tasks_after = client.run_on_scheduler(_counters)
    return {
        "tasks": (tasks_after - tasks) / items,
        "transitions": (transitions_after - transitions) / items,
        "bytes": (client.scheduler_comm.byte_count - sent) / items,
        "cpu": cpu * 1e5 / items,
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--sizes", default="4,16,64")
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    rows: list[tuple[int, str, dict[str, float]]] = []
    for workers in [int(s) for s in args.sizes.split(",")]:
        port = free_port()
        cluster = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(workers), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert cluster.stdout is not None and cluster.stdout.readline().strip() == b"ready"
            with Client(f"tcp://127.0.0.1:{port}", set_as_default=False) as client:
                client.wait_for_workers(workers)
                client.register_plugin(Computed())
                flyte.init(client)
                list(flyte.map(one_ms_task, range(2000)))  # warm: code shipped, item cost known to Dask
                rows.append((workers, "flyte_dask.map (auto-batched)", measure(client, args.items, raw=False)))
                if args.raw:
                    rows.append((workers, "raw Dask client.map + gather", measure(client, args.items, raw=True)))
                flyte.shutdown()
        finally:
            if cluster.stdin is not None:
                cluster.stdin.close()
            cluster.wait(timeout=60)
    _print(rows, args.items)


def _print(rows: list[tuple[int, str, dict[str, float]]], items: int) -> None:
    print(f"\n{items:,} items of 1 ms; per item unless said")
    header = (
        f"{'workers':>8}  {'system':<32}{'tasks':>9}{'transitions':>13}{'bytes sent':>12}"
        f"{'driver CPU s/1e5':>18}{'wall s':>9}{'vs 4 workers':>14}"
    )
    print(header)
    print("-" * len(header))
    first: dict[str, dict[str, float]] = {}
    for workers, system, m in rows:
        base = first.setdefault(system, m)
        ratio = f"{m['transitions'] / base['transitions']:.2f}x" if base is not m else "baseline"
        print(
            f"{workers:>8}  {system:<32}{m['tasks']:>9.4f}{m['transitions']:>13.4f}{m['bytes']:>12.1f}"
            f"{m['cpu']:>18.2f}{m['wall']:>9.2f}{ratio:>14}"
        )
    print("(vs 4 workers: scheduler transitions per item against the smallest cluster; target <= 1.2x)")


if __name__ == "__main__":
    main()
