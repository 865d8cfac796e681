"""Flyte 2 surface that flyte-sdk's examples use: clone_with, override(env_vars=...), map over a partial,
run with positional arguments, init_from_config with no file. Prints one JSON line of findings."""

import asyncio
import functools
import json
import os
import warnings

import flyte_dask as flyte

base = flyte.TaskEnvironment(name="surface", env_vars={"STAGE": "base"}, resources=flyte.Resources(cpu=1))
fast = base.clone_with(name="surface_fast", env_vars={"STAGE": "fast"})


@base.task
def stage(x: int) -> str:
    return f"{os.environ.get('STAGE')}:{os.environ.get('EXTRA', '-')}:{x}"


@fast.task
def fast_stage(x: int) -> str:
    return f"{os.environ.get('STAGE')}:{x}"


@base.task
def greet(name: str, x: int, constant: int) -> str:
    return f"{name}-{x}-{constant}"


@base.task
async def main(n: int, label: str) -> dict[str, object]:
    found: dict[str, object] = {"label": label}
    found["base"] = await stage.aio(1)
    found["override"] = await stage.override(env_vars={"STAGE": "over", "EXTRA": "yes"}).aio(2)
    found["clone"] = await fast_stage.aio(3)
    found["partial"] = [r async for r in flyte.map.aio(functools.partial(greet, "hi", constant=7), range(n))]
    try:
        [r async for r in flyte.map.aio(functools.partial(greet, x=1, name="x"), range(n))]
    except TypeError as e:
        found["partial_error"] = str(e)
    return found


if __name__ == "__main__":
    flyte.init_from_config()  # no file: the embedded cluster, as init() does
    found = dict(flyte.run(main, 3, label="positional").outputs()[0])
    found["clone_name"] = [fast.name, fast.resources == base.resources]
    try:
        stage.override(name="other")
    except ValueError as e:
        found["override_name"] = str(e)
    try:
        stage.override(reusable=flyte.ReusePolicy(replicas=2), env_vars={"A": "b"})
    except ValueError as e:
        found["override_reusable"] = str(e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stage.override(queue="gpu-queue", max_inline_io_bytes=1024, short_name="st")
    found["override_warns"] = [str(w.message) for w in caught]
    try:
        fast.clone_with(name="x", colour="blue")
    except TypeError as e:
        found["clone_error"] = str(e)
    print(json.dumps(found))
    asyncio.run(asyncio.sleep(0))
