"""flyte_dask.map against raw Dask and a plain loop, on one cluster, in one run.

    python benchmarks/fanout.py [--items 10000] [--slow-items 2000] [--workers 2] [--threads 4]

For each workload it times: the in-process Python loop (the floor), raw Dask
(``client.map`` + ``client.gather``, one future per item), flyte_dask.map with one
Dask task per item (``batch_size=1``, the like-for-like comparison) and flyte_dask.map
auto-batched (the default). Ratios are against raw Dask measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, print_table, ten_ms, timed, trivial

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="bench")
trivial_task = env.task(trivial)
ten_ms_task = env.task(ten_ms)


def measure(client: Client, name: str, fn, task, n: int, repeat: int, target: str) -> list[Row]:
    items = list(range(n))
    expected = [fn(x) for x in items[:3]]
    loop_s, _ = timed(lambda: [fn(x) for x in items], repeat=1)
    raw_s, raw = timed(lambda: client.gather(client.map(fn, items, pure=False)), repeat)
    one_s, one = timed(lambda: list(flyte.map(task, items, batch_size=1)), repeat)
    auto_s, auto = timed(lambda: list(flyte.map(task, items)), repeat)
    assert raw[:3] == one[:3] == auto[:3] == expected and len(raw) == len(one) == len(auto) == n
    return [
        Row(name, "in-process loop", n, loop_s, raw_s, "the floor"),
        Row(name, "raw Dask client.map + gather", n, raw_s),
        Row(name, "flyte_dask.map batch_size=1", n, one_s, raw_s, f"target <= {target}"),
        Row(name, "flyte_dask.map (auto-batched)", n, auto_s, raw_s),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000, help="trivial items")
    parser.add_argument("--slow-items", type=int, default=2_000, help="10 ms items")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, dashboard_address=None) as cluster:
        client = flyte.init(Client(cluster))
        list(flyte.map(trivial_task, range(100)))  # warm up workers and code shipping
        client.gather(client.map(trivial, range(100)))
        rows = measure(client, f"{args.items:,} trivial", trivial, trivial_task, args.items, args.repeat, "1.15x")
        rows += measure(
            client, f"{args.slow_items:,} x 10 ms", ten_ms, ten_ms_task, args.slow_items, args.repeat, "1.05x"
        )
        print_table(
            rows,
            f"fan-out on LocalCluster({args.workers} workers x {args.threads} threads); ratio = seconds / raw Dask",
        )
        flyte.shutdown()


if __name__ == "__main__":
    main()
