"""A driver whose fan-outs show progress (run by test_progress.py, in a terminal or a pipe)."""

import asyncio
import time

from distributed import Client, LocalCluster

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="prog")


@env.task
def step(x: int) -> int:
    time.sleep(0.002)
    if x % 500 == 7:
        raise ValueError("bad item")
    return x


@env.task
async def astep(x: int) -> int:
    await asyncio.sleep(0.2)
    return x


async def gathered() -> list[int]:
    return list(await asyncio.gather(*[astep(i) for i in range(300)]))


if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        with flyte.group("outer"):
            print("mapped", len(list(flyte.map(step, range(2000)))))
        print("streamed", len(list(flyte.map(step, (i for i in range(1000))))))
        print("gathered", len(asyncio.run(gathered())))
        flyte.shutdown()
