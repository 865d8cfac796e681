"""A long sync map, interrupted with Ctrl-C once it has started."""

import time

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="interrupt")


@env.task
def slow(x: int) -> int:
    time.sleep(0.2)
    return x


if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=2)
    for i, value in enumerate(flyte.map(slow, range(10_000))):
        if i == 0:
            print("started", flush=True)
