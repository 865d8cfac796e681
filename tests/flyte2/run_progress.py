"""A run whose tasks fan out: run(...).outputs() shows one bar of the items its tasks finish."""

import time

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="runprogress")
@env.task
def step(x: int) -> int:
    time.sleep(0.001)
    if x % 100 == 0:
        raise ValueError("x")
    return x
@env.task
def main(n: int) -> int:
    return sum(1 for r in flyte.map(step, range(n)) if isinstance(r, Exception))
if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=1)
    print(flyte.run(main, 3000).outputs()[0])
