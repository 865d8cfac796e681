"""A Flyte 2 program beyond the seed: errors caught both ways, trace, ctx, custom context,
with_runcontext, retries with backoff, return validation. Prints one JSON line of findings."""

import asyncio
import json
import os
import sys
import time
from datetime import timedelta

import flyte_dask as flyte

env = flyte.TaskEnvironment(name="prog", env_vars={"MODEL_SIZE": "small"})
attempts_file = sys.argv[1]


@env.task
async def check(x: int) -> int:
    if x % 3 == 2:
        raise ValueError(f"item {x} is bad")
    return x


@env.task
async def wrong_type(x: int) -> int:
    return str(x)  # type: ignore[return-value]


@env.task(retries=flyte.RetryStrategy(count=3, backoff=flyte.Backoff(base=timedelta(seconds=0.3), factor=2.0, cap=timedelta(seconds=1))))
def flaky(name: str) -> int:
    """Fails on its first two attempts, then succeeds; logs each attempt's time."""
    with open(attempts_file, "a") as f:
        f.write(f"{name} {time.time()}\n")
    with open(attempts_file) as f:
        tries = sum(1 for line in f if line.startswith(name + " "))
    if tries < 3:
        raise ConnectionError(f"attempt {tries} failed")
    return tries


@env.task(retries=5)
def gives_up() -> int:
    with open(attempts_file, "a") as f:
        f.write(f"gives_up {time.time()}\n")
    raise flyte.errors.NonRecoverableError("no point retrying")


@env.task(retries=2)
def always_fails() -> int:
    raise KeyError("missing")


@flyte.trace
async def lookup(x: int) -> int:
    await asyncio.sleep(0.01)
    return x * 10


@flyte.trace
def bad_trace(x: int) -> int:
    return sync_double(x)


@env.task
def sync_double(x: int) -> int:
    return 2 * x


@env.task
async def context_of_child() -> dict:
    c = flyte.ctx()
    return {"run": c.action.run_name, "custom": flyte.get_custom_context(), "env": os.environ.get("MODEL_SIZE"), "run_env": os.getenv("RUN_FLAG")}


@env.task
async def main(items: list[int]) -> dict:
    found: dict = {}
    try:
        await check(2)
    except flyte.errors.RuntimeUserError as e:
        found["await_flyte"] = [e.code, e.kind, str(e), isinstance(e, ValueError), bool(e.worker)]
    try:
        await check(5)
    except ValueError as e:
        found["await_plain"] = [type(e).__name__, str(e)]
    gathered = await asyncio.gather(*[check(i) for i in items], return_exceptions=True)
    found["gather"] = [getattr(r, "code", r) for r in gathered]
    mapped = [r async for r in flyte.map.aio(check, items)]
    found["map"] = [getattr(r, "code", r) for r in mapped]
    try:
        sum(mapped)
    except ValueError as e:
        found["sum"] = str(e)
    try:
        await wrong_type(1)
    except flyte.errors.RuntimeDataValidationError as e:
        found["validation"] = str(e)
    found["trace"] = await lookup(4)
    try:
        bad_trace(1)
    except flyte.errors.TraceDoesNotAllowNestedTasksError as e:
        found["trace_nested"] = type(e).__name__
    try:
        sync_double(2)
    except flyte.errors.SyncTaskCallInAsyncContextError as e:
        found["sync_in_async"] = str(e)
    found["sync_via_aio"] = await sync_double.aio(2)
    c = flyte.ctx()
    found["ctx"] = {"truthy": bool(c), "run": c.action.run_name, "mode": c.mode, "key": bool(c.action.name), "custom": c.custom_context}
    with flyte.custom_context(team="search"):
        found["child"] = await context_of_child()
    found["flaky"] = await flaky.aio("flaky")
    try:
        await gives_up.aio()
    except flyte.errors.NonRecoverableError as e:
        found["non_recoverable"] = e.code
    try:
        await always_fails.aio()
    except flyte.errors.RetriesExhaustedError as e:
        found["exhausted"] = [type(e).__name__, e.code, isinstance(e, KeyError)]
    return found


if __name__ == "__main__":
    flyte.init(n_workers=2, threads_per_worker=2)
    outside = flyte.ctx()
    run = flyte.with_runcontext(mode="local", name="nightly", env_vars={"RUN_FLAG": "on"}, custom_context={"owner": "ml"}).run(main, items=[0, 1, 2, 3, 4, 5])
    result = run.outputs()[0]
    result["outside_ctx"] = [bool(outside), repr(outside)]
    result["run_name"] = run.name
    try:
        flyte.run(check, 2).outputs()
    except flyte.errors.RuntimeUserError as e:
        result["run_outputs"] = [e.code, isinstance(e, ValueError)]

    async def via_aio() -> int:
        r = await flyte.with_runcontext(name="async-run").run.aio(sync_double, 21)
        return r.outputs()[0]

    result["run_aio"] = asyncio.run(via_aio())
    print(json.dumps(result))
