"""Big values through a map: 8 MB arrays passed by value against the same data passed as `flyte_dask.io.File`s.

On real ``dask scheduler`` / ``dask worker`` processes, a parent task maps ``make`` over
the items and then ``norm`` over what came back. By value, every array travels to the
parent and out again; as files, the parent holds references and each array goes from
the producing task to storage to the consuming task. For each it prints the time, the
bytes that reached the parent (Dask's ``sizeof`` of what the first map returned) and
the growth of the parent worker process's RSS while it ran.

    python benchmarks/io.py [--items 200] [--mb 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dask.sizeof import sizeof

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Cluster, Peaks

import flyte_dask as flyte
from flyte_dask.io import File

env = flyte.TaskEnvironment(name="io_bench")


@env.task
def make_array(i: int, mb: int) -> np.ndarray:
    return np.full(mb * (1 << 20) // 8, float(i))


@env.task
def norm_array(a: np.ndarray) -> float:
    return float(a[:1000].sum() + a.size)


@env.task
def make_file(i: int, mb: int) -> File:
    f = File.new_remote(f"array-{i}.npy")
    with f.open_sync("wb") as fh:
        np.save(fh, np.full(mb * (1 << 20) // 8, float(i)))
    return f


@env.task
def norm_file(f: File) -> float:
    with f.open_sync("rb") as fh:
        a = np.load(fh)
    return float(a[:1000].sum() + a.size)


@env.task
def by_value(n: int, mb: int) -> tuple[float, int, int]:
    rss = Peaks({"parent": os.getpid()})
    arrays = list(flyte.map(make_array, range(n), [mb] * n))
    held = sizeof(arrays)
    total = sum(flyte.map(norm_array, arrays))
    return total, held, rss.done().grown("parent")


@env.task
def as_files(n: int, mb: int) -> tuple[float, int, int]:
    rss = Peaks({"parent": os.getpid()})
    files = list(flyte.map(make_file, range(n), [mb] * n))
    held = sizeof(files)
    total = sum(flyte.map(norm_file, files))
    return total, held, rss.done().grown("parent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--mb", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flyte-dask-io-bench-") as scratch:
        work = Path(scratch)
        raw = {"DASK_FLYTE_DASK__RAW_DATA_PATH": str(work / "raw")}
        cluster = Cluster(work, raw, workers=2, nthreads=2)
        try:
            flyte.init(cluster.address)
            print(f"{args.items} items of {args.mb} MB on 2 dask worker processes x 2 threads")
            print(f"{'passed':<12}{'seconds':>10}{'vs by value':>13}{'to parent':>14}{'parent RSS +':>15}")
            rows = []
            for name, task in (("by value", by_value), ("as Files", as_files)):
                start = time.perf_counter()
                total, held, grown = flyte.run(task, args.items, args.mb).outputs()  # a tuple: three outputs
                rows.append((name, time.perf_counter() - start, held, grown, total))
            assert rows[0][4] == rows[1][4], "both ways must give the same answer"
            base = rows[0][1]
            for name, seconds, held, grown, _ in rows:
                print(f"{name:<12}{seconds:>10.2f}{seconds / base:>12.2f}x{_mib(held):>14}{_mib(grown):>15}")
        finally:
            flyte.shutdown()
            cluster.close()


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n / 1024:,.1f} KiB"


if __name__ == "__main__":
    main()
