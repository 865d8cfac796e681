"""A run whose main maps parents that each map leaves: one bar per kind of map, under the run's bar."""

import time

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="nest")


@env.task
def leaf(x: int) -> int:
    time.sleep(0.003)
    return x


@env.task
def mid(x: int) -> int:
    return sum(flyte.map(leaf, range(50)))


@env.task
def main(n: int) -> int:
    return sum(flyte.map(mid, range(n)))


if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=2)
    print(flyte.run(main, 20).outputs()[0])
