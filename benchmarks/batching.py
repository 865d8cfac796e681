"""Large maps: auto-batched flyte_dask.map against the loop, raw Dask, Flyte 2 and Ray.

    python benchmarks/batching.py [--sizes 10000 100000 1000000] [--slow 1000]
                                  [--raw-max 100000] [--others-max 10000] [--workers 2] [--threads 4]

One Dask LocalCluster serves every Dask row. Per workload it times the in-process loop
(the floor), raw Dask (``client.map`` + ``gather``), flyte_dask.map with one Dask task
per item (``batch_size=1``) and auto-batched (the default), and, when installed
(``pip install -e '.[bench]'``), Flyte 2's local runner and Ray (``ray.remote``).
Per-future systems are skipped above ``--raw-max`` / ``--others-max`` items (their
cost grows linearly: the table says so). Ratios are against raw Dask, or against the
auto-batched map where raw Dask was skipped. Last, a separate driver process maps over
a lazy 10^6-item generator and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, print_table, ten_ms, timed, trivial

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="bench")
TASKS = {trivial: env.task(trivial), ten_ms: env.task(ten_ms)}


def flyte2_local(fn: Callable[[int], int], n: int) -> list[int]:
    """The same map on Flyte 2's own local runner (``flyte`` from PyPI)."""
    import flyte as flyte2

    env2 = flyte2.TaskEnvironment(name="bench_flyte2")
    item = env2.task(fn)

    @env2.task
    def main(n: int) -> list[int]:
        return list(flyte2.map(item, range(n)))

    flyte2.init()
    return flyte2.with_runcontext(mode="local").run(main, n=n).outputs()[0]


def ray_remote(fn: Callable[[int], int], n: int, cpus: int) -> tuple[float, list[int]]:
    """The same map as one ``ray.remote`` call per item, timed after Ray has started and warmed up.

    Ray runs only for its own row: its background processes would slow every Dask row.
    """
    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(fn)
        ray.get([remote.remote(x) for x in range(100)])
        return timed(lambda: ray.get([remote.remote(x) for x in range(n)]))
    finally:
        ray.shutdown()


def measure(client: Client, fn: Callable[[int], int], n: int, label: str, args: argparse.Namespace) -> list[Row]:
    task = TASKS[fn]
    expected_head = [fn(x) for x in range(3)]
    rows: list[Row] = []
    loop_s, _ = timed(lambda: [fn(x) for x in range(n)])
    auto_s, auto = timed(lambda: list(flyte.map(task, range(n))), args.repeat)
    assert auto[:3] == expected_head and len(auto) == n
    raw_s = None
    if n <= args.raw_max:
        raw_s, raw = timed(lambda: client.gather(client.map(fn, range(n), pure=False)))
        one_s, one = timed(lambda: list(flyte.map(task, range(n), batch_size=1)))
        assert raw == one == auto
    base = raw_s or auto_s
    rows.append(Row(label, "in-process loop", n, loop_s, base, "the floor"))
    if raw_s is not None:
        rows.append(Row(label, "raw Dask client.map + gather", n, raw_s))
        rows.append(Row(label, "flyte_dask.map batch_size=1", n, one_s, base))
    else:
        rows.append(
            Row(
                label,
                "raw Dask client.map + gather",
                n,
                float("nan"),
                None,
                f"skipped above --raw-max {args.raw_max:,}",
            )
        )
    rows.append(Row(label, "flyte_dask.map auto-batched", n, auto_s, raw_s, "" if raw_s else "baseline (raw skipped)"))
    for name, module, run in (
        ("Flyte 2 local runner", "flyte", lambda: timed(lambda: flyte2_local(fn, n))),
        ("Ray ray.remote + ray.get", "ray", lambda: ray_remote(fn, n, args.workers * args.threads)),
    ):
        if importlib.util.find_spec(module) is None:
            rows.append(Row(label, name, n, float("nan"), None, "not installed (pip install -e '.[bench]')"))
        elif n > args.others_max:
            rows.append(Row(label, name, n, float("nan"), None, f"skipped above --others-max {args.others_max:,}"))
        else:
            seconds, out = run()
            assert list(out)[:3] == expected_head
            rows.append(Row(label, name, n, seconds, base))
    return rows


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux's ``VmHWM`` starts afresh at exec; ``ru_maxrss`` would carry over the peak of
    the (large) benchmark process this one was forked from.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def driver_memory(address: str, n: int) -> None:
    """In this fresh process: map over a lazy generator of ``n`` items, print peak RSS."""
    flyte.init(address)
    before = peak_rss_mib()
    start = time.perf_counter()
    total = sum(flyte.map(TASKS[trivial], (x for x in range(n))))
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    assert total == n * (n - 1), total
    print(f"driver_memory items={n} seconds={seconds:.2f} peak_rss_before_map_mib={before:.0f} peak_rss_mib={peak:.0f}")
    flyte.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--slow", type=int, default=1_000, help="items of the 10 ms workload")
    parser.add_argument("--raw-max", type=int, default=100_000, help="largest map timed with one future per item")
    parser.add_argument("--others-max", type=int, default=10_000, help="largest map timed on Flyte 2 and Ray")
    parser.add_argument("--memory-items", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--driver-memory", nargs=2, metavar=("ADDRESS", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver_memory:
        driver_memory(args.driver_memory[0], int(args.driver_memory[1]))
        return
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, dashboard_address=None) as cluster:
        client = flyte.init(Client(cluster))
        list(flyte.map(TASKS[trivial], range(100)))  # warm up workers and code shipping
        rows: list[Row] = []
        for n in args.sizes:
            rows += measure(client, trivial, n, f"{n:,} trivial", args)
        rows += measure(client, ten_ms, args.slow, f"{args.slow:,} x 10 ms", args)
        print_table(
            rows, f"map on LocalCluster({args.workers} workers x {args.threads} threads); ratio = seconds / raw Dask"
        )
        done = subprocess.run(
            [sys.executable, __file__, "--driver-memory", cluster.scheduler_address, str(args.memory_items)],
            capture_output=True,
            text=True,
            check=True,
        )
        print("\n" + done.stdout.strip().splitlines()[-1] + "  (target: peak < 1024 MiB)")
        flyte.shutdown()


if __name__ == "__main__":
    main()
