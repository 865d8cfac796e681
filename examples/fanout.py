"""A real fan-out on Dask: map over 20,000 items, then gather per-chunk summaries.

flyte-dask run examples/fanout.py main --n 20000     # embedded local cluster
python examples/fanout.py                            # the same, from Python
"""

import asyncio

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="demo")


@env.task
def collatz_steps(n: int) -> int:
    """How many Collatz steps take n to 1 (cheap, uneven work: a good fan-out)."""
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


@env.task
async def chunk_summary(start: int, steps: list[int]) -> dict[str, int]:
    """The longest chain in one chunk of results."""
    best = max(range(len(steps)), key=steps.__getitem__)
    return {"n": start + best, "steps": steps[best]}


@env.task
async def main(n: int = 20_000, chunk: int = 2_000) -> dict[str, object]:
    steps = [s async for s in flyte.map.aio(collatz_steps, range(1, n + 1))]
    summaries = await asyncio.gather(*[chunk_summary(i + 1, steps[i : i + chunk]) for i in range(0, n, chunk)])
    champion = max(summaries, key=lambda s: s["steps"])
    return {"items": n, "total_steps": sum(steps), "longest_chain": champion, "chunks": len(summaries)}


if __name__ == "__main__":
    flyte.init()
    run = flyte.run(main, n=20_000)
    print(run.outputs()[0])
    print(f"{run.name}: {run.duration:.2f}s, dashboard {run.url}")
