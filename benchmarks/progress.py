"""What a progress bar costs: a 10^6-item map with the bar drawn and without, on one cluster.

    python benchmarks/progress.py [--items 1000000] [--repeat 3]

The bar is drawn to a file (so tqdm formats and writes every refresh, as on a terminal).
Target: under 1% of the map's time. Two figures: wall times with and without the bar,
alternated (on a shared 2-core box they move by +-10% run to run, more than the bar
costs), and the time the bar itself spends, measured inside it, as a share of the map.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import dask
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, print_table, timed, trivial

import flyte_dask as flyte
from flyte_dask._internal.controllers.progress import Progress

trivial_task = flyte.TaskEnvironment(name="progress_bench").task(trivial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.items
    with LocalCluster(n_workers=2, threads_per_worker=4, dashboard_address=None) as cluster:
        flyte.init(Client(cluster))
        sum(flyte.map(trivial_task, range(10_000)))  # warm up
        drawn = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        timings: dict[bool, float] = {}
        own: list[float] = []
        for _ in range(args.repeat):  # alternate, so drift on a shared box hits both alike
            for bar in (False, True):
                spent = Progress.spent
                with (
                    dask.config.set({"flyte-dask.progress": bar, "flyte-dask.progress-delay": "0s"}),
                    contextlib.redirect_stderr(drawn),
                ):
                    seconds, total = timed(lambda: sum(flyte.map(trivial_task, range(n))))
                assert total == n * (n - 1)
                if bar:
                    own.append((Progress.spent - spent) / seconds)
                timings[bar] = min(timings.get(bar, float("inf")), seconds)
        drawn.close()
        size = os.path.getsize(drawn.name)
        os.unlink(drawn.name)
        rows = [
            Row(f"{n:,} trivial", "flyte_dask.map, no bar", n, timings[False]),
            Row(
                f"{n:,} trivial",
                "flyte_dask.map, bar drawn",
                n,
                timings[True],
                timings[False],
                f"{size:,} bytes of bar drawn",
            ),
        ]
        print_table(rows, f"progress bar overhead, best of {args.repeat}; ratio = seconds / no bar")
        print(f"\ntime spent in the bar itself: {100 * max(own):.3f}% of the map at most (target < 1%)")
        flyte.shutdown()


if __name__ == "__main__":
    main()
