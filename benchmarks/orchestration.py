"""Async orchestration: gathers of task calls against Flyte 2's local runner, raw Dask and map.

    python benchmarks/orchestration.py [--io 1000,10000] [--trivial 3000,100000] [--workers 2] [--threads 2]

Workloads, each the seed's recommended pattern (a ``main`` task that
``asyncio.gather``s async task calls):

- I/O: every call awaits ``asyncio.sleep(0.5)`` (a web API, a model endpoint). Ratio
  against Flyte 2's local runner running the same program (target <= 1.5x).
- trivial: every call returns at once. Ratios against raw Dask ``client.map`` +
  ``gather`` of the same function (target <= 1.0x at 3,000), Flyte 2's local runner
  (target <= 1.0x) and ``flyte_dask.map`` auto-batched over the same async task
  (target within 3x at 100,000). The asyncio floor row gathers as many bare futures
  with no Dask at all: what any gather of that many calls costs in Python.
- one await: a lone ``await task(x)``, one after another, against raw
  ``client.submit(...).result()`` (target <= 1.1x: batching adds no latency).

Flyte 2 (``pip install -e '.[bench]'``) runs in a separate process so the two
libraries never share a loop; its rows are skipped, saying so, where it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, print_table, timed, trivial

import flyte_dask as flyte

IO_SECONDS = 0.5
env = flyte.TaskEnvironment(name="orch_bench")


@env.task
async def io_call(i: int) -> int:
    await asyncio.sleep(IO_SECONDS)
    return i


@env.task
async def trivial_call(i: int) -> int:
    return i * 2


@env.task
async def gather_io(n: int) -> int:
    return len(await asyncio.gather(*[io_call(i) for i in range(n)]))


@env.task
async def gather_trivial(n: int) -> int:
    return sum(await asyncio.gather(*[trivial_call(i) for i in range(n)]))


async def asyncio_floor(n: int) -> float:
    """Seconds to gather ``n`` coroutines that each await a future set right away: asyncio alone."""
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = []

    async def call(i: int) -> int:
        future = loop.create_future()
        futures.append(future)
        return await future

    async def settle() -> None:
        await asyncio.sleep(0)
        for i, future in enumerate(futures):
            future.set_result(i)

    start = time.perf_counter()
    setter = asyncio.ensure_future(settle())
    await asyncio.gather(*[call(i) for i in range(n)])
    await setter
    return time.perf_counter() - start


def flyte2_timings(io_sizes: list[int], trivial_sizes: list[int]) -> dict[str, float]:
    """The same programs on Flyte 2's local runner; runs in its own process (``--flyte2``)."""
    import flyte as flyte2

    env2 = flyte2.TaskEnvironment(name="orch_bench_flyte2")

    @env2.task
    async def io_item(i: int) -> int:
        await asyncio.sleep(IO_SECONDS)
        return i

    @env2.task
    async def trivial_item(i: int) -> int:
        return i * 2

    @env2.task
    async def io_main(n: int) -> int:
        return len(await asyncio.gather(*[io_item(i) for i in range(n)]))

    @env2.task
    async def trivial_main(n: int) -> int:
        return sum(await asyncio.gather(*[trivial_item(i) for i in range(n)]))

    flyte2.init()
    local = flyte2.with_runcontext(mode="local")
    out = {}
    for kind, main, sizes in (("io", io_main, io_sizes), ("trivial", trivial_main, trivial_sizes)):
        for n in sizes:
            seconds, result = timed(lambda main=main, n=n: local.run(main, n=n).outputs()[0])
            assert result == (n if kind == "io" else n * (n - 1)), result
            out[f"{kind}-{n}"] = seconds
    return out


def flyte2_rows(io_sizes: list[int], trivial_sizes: list[int]) -> dict[str, float] | str:
    """Flyte 2's timings from a subprocess, or why there are none."""
    try:
        import flyte  # noqa: F401
    except ImportError:
        return "flyte not installed (pip install -e '.[bench]')"
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--flyte2",
            "--io",
            ",".join(map(str, io_sizes)),
            "--trivial",
            ",".join(map(str, trivial_sizes)),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode:
        return f"flyte run failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_await_rows(client: Client, calls: int) -> list[Row]:
    """A lone await at a time: per-call latency against raw submit + result."""

    async def awaited() -> None:
        for i in range(calls):
            assert await trivial_call(i) == i * 2

    def raw() -> None:
        for i in range(calls):
            assert client.submit(trivial, i, pure=False).result() == i * 2

    raw_s, _ = timed(raw, 3)
    ours_s, _ = timed(lambda: asyncio.run(awaited()), 3)
    label = f"{calls} lone awaits"
    return [
        Row(label, "raw Dask submit + result", calls, raw_s),
        Row(label, "flyte_dask await task(x)", calls, ours_s, raw_s, "target <= 1.1x"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--io", default="1000,10000", help="sizes of the I/O gathers")
    parser.add_argument("--trivial", default="3000,100000", help="sizes of the trivial gathers")
    parser.add_argument("--raw-max", type=int, default=10_000, help="skip raw client.map above this many items")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--awaits", type=int, default=200, help="lone awaits timed one after another")
    parser.add_argument("--flyte2", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    io_sizes = [int(n) for n in args.io.split(",") if n]
    trivial_sizes = [int(n) for n in args.trivial.split(",") if n]
    if args.flyte2:
        print(json.dumps(flyte2_timings(io_sizes, trivial_sizes)))
        return
    flyte2 = flyte2_rows(io_sizes, trivial_sizes)
    rows: list[Row] = []
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, dashboard_address=None) as cluster:
        client = flyte.init(Client(cluster))
        flyte.run(gather_trivial, 100).outputs()  # warm up workers and code shipping
        client.gather(client.map(trivial, range(100), pure=False))
        for n in io_sizes:
            label = f"gather {n:,} x {IO_SECONDS:g} s I/O"
            ours, result = timed(lambda n=n: flyte.run(gather_io, n).outputs()[0])
            assert result == n
            theirs = flyte2.get(f"io-{n}") if isinstance(flyte2, dict) else None
            if theirs:
                rows.append(Row(label, "Flyte 2 local runner", n, theirs))
            else:
                rows.append(Row(label, "Flyte 2 local runner", n, float("inf"), note=str(flyte2)))
            rows.append(Row(label, "flyte_dask gather in a task", n, ours, theirs, "target <= 1.5x Flyte 2 local"))
        for n in trivial_sizes:
            label = f"gather {n:,} trivial"
            if n <= args.raw_max:
                raw, result = timed(lambda n=n: client.gather(client.map(trivial, range(n), pure=False)))
                assert sum(result) == n * (n - 1)
                rows.append(Row(label, "raw Dask client.map + gather", n, raw))
            else:
                raw = None
                rows.append(
                    Row(
                        label,
                        "raw Dask client.map + gather",
                        n,
                        float("inf"),
                        note=f"skipped above --raw-max {args.raw_max:,}",
                    )
                )
            mapped, result = timed(lambda n=n: sum(flyte.map(trivial_call, range(n))))
            assert result == n * (n - 1)
            rows.append(Row(label, "flyte_dask.map auto-batched", n, mapped, raw, "same async task"))
            base = raw or mapped
            rows.append(
                Row(label, "asyncio floor (no Dask)", n, asyncio.run(asyncio_floor(n)), base, "bare futures gathered")
            )
            theirs = flyte2.get(f"trivial-{n}") if isinstance(flyte2, dict) else None
            rows.append(
                Row(label, "Flyte 2 local runner", n, theirs or float("inf"), base, "" if theirs else str(flyte2))
            )
            ours, result = timed(lambda n=n: flyte.run(gather_trivial, n).outputs()[0])
            assert result == n * (n - 1)
            rows.append(Row(label, "flyte_dask gather in a task", n, ours, base, "target <= 1.0x raw at 3,000"))
            notes = [f"{ours / mapped:.2f}x map (target <= 3x at 100,000)"]
            if theirs:
                notes.append(f"{ours / theirs:.2f}x Flyte 2 local (target <= 1.0x)")
            rows[-1].note = "; ".join(notes)
        rows += one_await_rows(client, args.awaits)
        start = time.strftime("%Y-%m-%d")
        print_table(
            rows,
            f"orchestration on LocalCluster({args.workers} workers x {args.threads} threads), {start}; ratio = seconds / baseline",
        )
        flyte.shutdown()


if __name__ == "__main__":
    main()
