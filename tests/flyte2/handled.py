"""Failures the program handles print nothing: map, gather and direct calls."""

import asyncio

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="handled")


@env.task
async def risky(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


@env.task
def risky_sync(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


async def main() -> None:
    results = await asyncio.gather(*[risky(i) for i in range(6)], return_exceptions=True)
    print(sum(1 for r in results if isinstance(r, ValueError)))
    for i in range(3):
        try:
            await risky(2 * i + 1)
        except ValueError:
            pass


if __name__ == "__main__":
    flyte.init(n_workers=1, threads_per_worker=2)
    print(sum(1 for r in flyte.map(risky_sync, range(10)) if isinstance(r, Exception)))
    try:
        risky_sync(1)
    except flyte.errors.RuntimeUserError:
        pass
    asyncio.run(main())
