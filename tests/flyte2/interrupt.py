"""Long work interrupted with Ctrl-C once it has started: a sync map, a gather, or a run's outputs."""

import asyncio
import os
import sys
import threading
import time

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="interrupt")


@env.task
def slow(x: int) -> int:
    time.sleep(0.2)
    return x


@env.task
async def waits(x: int, flag: str = "") -> int:
    if flag:
        open(flag, "w").close()  # the calls are running now
    await asyncio.sleep(60)
    return x


@env.task
async def main(n: int) -> int:
    return sum(await asyncio.gather(*[waits(i) for i in range(n)]))


async def gather(n: int, flag: str) -> list[int]:
    running = asyncio.gather(*[waits(i, flag) for i in range(n)])
    while not os.path.exists(flag):
        await asyncio.sleep(0.02)
    print("started", flush=True)
    return list(await running)


if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=2)
    mode = sys.argv[1] if len(sys.argv) > 1 else "map"
    if mode == "map":
        for i, value in enumerate(flyte.map(slow, range(10_000))):
            if i == 0:
                print("started", flush=True)
    elif mode == "gather":
        asyncio.run(gather(500, sys.argv[2]))
    else:
        threading.Timer(0.5, lambda: print("started", flush=True)).start()  # once the run waits
        flyte.run(main, 200)  # the embedded cluster: Flyte's local mode runs it to the end here
