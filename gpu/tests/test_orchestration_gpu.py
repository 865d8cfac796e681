"""Orchestrators on real GPUs: a GPU parent fans out GPU children on flyte_dask's LocalCUDACluster.

Each GPU worker of the embedded cluster advertises ``GPU=1``. A parent in a GPU
environment holds that GPU while it computes with CuPy, and gives it back at its first
nested call, so its CuPy children run on the same GPU, one at a time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from test_gpu import overlap

import flyte_dask as flyte

gpu_env = flyte.TaskEnvironment(name="gpu_orch", resources=flyte.Resources(gpu=1))


def _product(seed: int, size: int) -> dict[str, Any]:
    import cupy as cp
    from distributed import get_worker

    start = time.time()
    a = cp.random.default_rng(seed).random((size, size), dtype=cp.float32)
    value = float((a @ a).sum())
    cp.cuda.Stream.null.synchronize()
    return {"worker": get_worker().address, "sum": value, "start": start, "end": time.time()}


@gpu_env.task
def child(seed: int) -> dict[str, Any]:
    return _product(seed, 1024)


@gpu_env.task
async def child_async(seed: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return _product(seed, 1024)


@gpu_env.task
def parent_map(n: int) -> list[dict[str, Any]]:
    """Computes on its GPU first, then maps GPU children."""
    _product(0, 512)
    return list(flyte.map(child, range(n)))


@gpu_env.task
async def parent_gather(n: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*[child_async(i) for i in range(n)]))


@gpu_env.task
def grandparent(n: int) -> list[list[dict[str, Any]]]:
    return list(flyte.map(parent_map, [n, n]))


def _check(children: list[dict[str, Any]], n: int, gpu_workers: list[str]) -> None:
    assert len(children) == n and all(c["sum"] > 0 for c in children)
    for worker in {c["worker"] for c in children}:
        assert worker in gpu_workers
        assert overlap([(c["start"], c["end"]) for c in children if c["worker"] == worker]) == 1


def _all_returned(client: Any) -> None:
    used = client.run_on_scheduler(
        lambda dask_scheduler: [ws.used_resources.get("GPU", 0) for ws in dask_scheduler.workers.values()]
    )
    assert set(used) == {0}


def test_gpu_parent_maps_gpu_children(gpu_client: Any, roles: dict[str, list[str]]) -> None:
    run = flyte.run(parent_map, 8)
    run.wait(timeout=300)
    _check(run.outputs()[0], 8, roles["gpu"])
    _all_returned(gpu_client)


def test_async_gpu_parent_gathers_gpu_children(gpu_client: Any, roles: dict[str, list[str]]) -> None:
    run = flyte.run(parent_gather, 8)
    run.wait(timeout=300)
    _check(run.outputs()[0], 8, roles["gpu"])
    _all_returned(gpu_client)


def test_gpu_orchestrators_three_deep(gpu_client: Any, roles: dict[str, list[str]]) -> None:
    run = flyte.run(grandparent, 3)
    run.wait(timeout=300)
    for children in run.outputs()[0]:
        _check(children, 3, roles["gpu"])
    _all_returned(gpu_client)
