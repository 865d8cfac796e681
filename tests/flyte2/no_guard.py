"""A Flyte 2 script with no main guard: init and the fan-out at top level."""

import sys

import flyte_dask as flyte

with open(sys.argv[1], "a") as log:
    log.write("top-level\n")

env = flyte.TaskEnvironment(name="noguard")


@env.task
def square(x: int) -> int:
    return x * x


flyte.init(n_workers=2, threads_per_worker=1)
print(list(flyte.map(square, range(6))))
