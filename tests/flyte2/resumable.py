"""A long cached map that a test kills part-way and runs again: finished items are not run twice."""

import sys

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="resumable")
log = sys.argv[2]


@env.task(cache="auto")
def score(x: int) -> int:
    with open(log, "a") as f:  # one short append per execution
        f.write(f"{x}\n")
    return x % 7


if __name__ == "__main__":
    n = int(sys.argv[1])
    flyte.init(n_workers=2, threads_per_worker=1)
    total = 0
    for i, value in enumerate(flyte.map(score, range(n))):
        total += value
        if i % 500 == 0:
            print(i, flush=True)
    print("total", total, flush=True)
