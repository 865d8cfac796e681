"""Big values through fan-outs, on real ``dask scheduler`` / ``dask worker`` processes, in one run:

1. a slow consumer of a map of 8 MB results: the consumer's peak RSS growth against the
   byte budget (``flyte-dask.map.max-buffered-bytes``), for two budgets;
2. a map of a map of 8 MB arrays inside a task, against raw Dask chaining the same
   futures (``client.map(norm, client.map(make, ...))``): time, and the peak RSS of the
   parent's worker and of the busiest worker against their idle RSS;
3. 8 MB arrays passed from the driver, against raw ``scatter`` + ``map``: time.

    python benchmarks/data.py [--slow-items 600] [--chain-items 200] [--inputs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Cluster, Peaks

import flyte_dask as flyte
from flyte_dask._runcontext import ctx

env = flyte.TaskEnvironment(name="data_bench")
WORDS = 8 * (1 << 20) // 8  # float64s in 8 MB
MIB = 2**20


def make(i: int) -> np.ndarray:
    return np.full(WORDS, float(i))


def norm(a: np.ndarray) -> float:
    return float(a[:1000].sum() + a.size)


make_task = env.task(make)
norm_task = env.task(norm)


@env.task
def chained_parent(n: int) -> tuple[float, str]:
    return sum(flyte.map(norm_task, flyte.map(make_task, range(n)))), str(ctx().worker)


def slow_consumer(address: str, items: int) -> None:
    """(In a child process.) Take each 8 MB result at 10 ms apiece; print this process's RSS growth."""
    flyte.init(address)
    sum(a[0] for a in flyte.map(make_task, range(4)))
    me = psutil.Process()
    base = peak = me.memory_info().rss
    for a in flyte.map(make_task, range(items)):
        peak = max(peak, me.memory_info().rss)
        time.sleep(0.01)
        del a
    print(json.dumps({"grown": peak - base}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-items", type=int, default=600)
    parser.add_argument("--chain-items", type=int, default=200)
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--slow-consumer", help=argparse.SUPPRESS)  # the child's mode: the scheduler's address
    args = parser.parse_args()
    if args.slow_consumer:
        slow_consumer(args.slow_consumer, args.slow_items)
        return
    with tempfile.TemporaryDirectory(prefix="flyte-dask-data-bench-") as scratch:
        cluster = Cluster(Path(scratch), workers=2, nthreads=2)
        try:
            _run(cluster, args)
        finally:
            cluster.close()


def _run(cluster: Cluster, args: argparse.Namespace) -> None:
    print("2 dask worker processes x 2 threads; 8 MB arrays")
    print(f"\n1. slow consumer: {args.slow_items} results taken at 10 ms each; the consumer's peak RSS growth")
    for budget in ("256MiB", "1GiB"):
        environ = {
            **os.environ,
            "DASK_FLYTE_DASK__MAP__MAX_BUFFERED_BYTES": budget,
            "MALLOC_MMAP_THRESHOLD_": "65536",  # freed arrays go back to the OS, so RSS shows what is held
        }
        done = subprocess.run(
            [sys.executable, __file__, "--slow-consumer", cluster.address, "--slow-items", str(args.slow_items)],
            capture_output=True,
            text=True,
            env=environ,
            check=True,
        )
        grown = json.loads(done.stdout.strip().splitlines()[-1])["grown"]
        limit = int(budget[:-3]) * (1024 if budget.endswith("GiB") else 1) * MIB
        print(
            f"   budget {budget:>7}: grew {grown / MIB:8,.0f} MiB = {grown / limit:.2f}x the budget (target <= 1.10x)"
        )

    client = flyte.init(cluster.address)
    pids = client.run(os.getpid)
    n = args.chain_items
    print(f"\n2. map of a map inside a task: {n} arrays made and reduced, best of 3 after a warm-up run each;")
    print("   peak worker RSS against idle")

    def raw_chain(count: int) -> float:
        return sum(client.gather(client.map(norm, client.map(make, range(count), pure=False), pure=False)))

    raw_chain(10)  # warm: code shipped, connections made (as for ours below)
    flyte.run(chained_parent, 10).outputs()
    raw_seconds = ours_seconds = float("inf")
    for _ in range(3):
        peaks = Peaks(pids)
        start = time.perf_counter()
        raw_total = raw_chain(n)
        raw_seconds = min(raw_seconds, time.perf_counter() - start)
        raw = peaks.done()
        peaks = Peaks(pids)
        start = time.perf_counter()
        ours_total, parent = flyte.run(chained_parent, n).outputs()
        ours_seconds = min(ours_seconds, time.perf_counter() - start)
        ours = peaks.done()
    assert ours_total == raw_total, (ours_total, raw_total)
    print(f"   {'system':<36}{'seconds':>9}{'vs raw':>9}{'busiest worker':>16}{'parent worker':>16}")
    busiest = max(raw.peak[w] / raw.idle[w] for w in raw.peak)
    print(f"   {'raw Dask chained futures':<36}{raw_seconds:>9.2f}{'1.00x':>9}{busiest:>15.2f}x{'-':>16}")
    busiest = max(ours.peak[w] / ours.idle[w] for w in ours.peak)
    print(
        f"   {'flyte_dask map(norm, map(make))':<36}{ours_seconds:>9.2f}{ours_seconds / raw_seconds:>8.2f}x"
        f"{busiest:>15.2f}x{ours.peak[parent] / ours.idle[parent]:>15.2f}x   (targets <= 1.2x raw, parent < 2x idle)"
    )

    m = args.inputs
    arrays = [make(i) for i in range(m)]
    print(f"\n3. {m} arrays passed from the driver")
    start = time.perf_counter()
    raw_values = client.gather(client.map(norm, client.scatter(arrays)))
    raw_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours_values = list(flyte.map(norm_task, arrays))
    ours_seconds = time.perf_counter() - start
    assert ours_values == raw_values
    print(
        f"   raw scatter + map {raw_seconds:6.2f} s; flyte_dask.map {ours_seconds:6.2f} s = {ours_seconds / raw_seconds:.2f}x"
    )
    flyte.shutdown()


if __name__ == "__main__":
    main()
