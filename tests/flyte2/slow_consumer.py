"""A slow consumer of large map results: memory stays within the map's byte budget, on the driver or in a task.

Usage: python slow_consumer.py <items> <seconds per result> <driver|task>; prints JSON: RSS growth and a checksum.
The first result takes a second to consume, time enough for every other result to be computed: without a budget
they all pile up in the consumer, whatever the speed of the box.
"""

import json
import sys
import threading
import time

import numpy as np
import psutil

import flyte_dask as flyte

env = flyte.TaskEnvironment("slow_consumer")
MB = 4  # each result is a 4 MB array


@env.task
def make(i: int) -> np.ndarray:
    return np.full(MB * (1 << 20) // 8, float(i))


def consume(items: int, pause: float) -> tuple[float, float]:
    """Map ``make`` and take each result slowly; the RSS growth of this process while it ran (MiB), and a checksum."""
    sum(a[0] for a in flyte.map(make, range(8)))  # warm: code shipped, connections made
    me = psutil.Process()
    base = me.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], me.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    total = 0.0
    for i, array in enumerate(flyte.map(make, range(items))):
        total += float(array[0])
        time.sleep(pause if i else 1.0)  # writing it somewhere, slowly
    stop.set()
    sampler.join()
    return (peak[0] - base) / 2**20, total


@env.task
def in_a_task(items: int, pause: float) -> list[float]:
    return list(consume(items, pause))


if __name__ == "__main__":
    items, pause, where = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    flyte.init(n_workers=2, threads_per_worker=2)
    grown, total = consume(items, pause) if where == "driver" else flyte.run(in_a_task, items, pause).outputs()[0]
    print(json.dumps({"grown_mib": grown, "total": total}))
