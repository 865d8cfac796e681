"""Orchestration: async tasks hold no thread, orchestrators hold no resources, gathers are batched.

All on real Dask: LocalClusters whose workers advertise ``GPU=1`` stand in for GPU
hosts (only CUDA is missing), and real ``dask scheduler`` / ``dask worker`` processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import pytest
from dask.utils import key_split
from distributed import Client, Event, LocalCluster, get_client, get_task_stream, get_worker

import flyte_dask as flyte
from flyte_dask._internal.runtime.orchestration import ResourceReleasePlugin
from flyte_dask._internal.transport.cluster import add_workers
from flyte_dask._loader import load_script

from .conftest import SEEDS, DaskProcesses, eventually, max_overlap
from .test_calls import stamped as io_call

env = flyte.TaskEnvironment(name="orch")
gpu_env = flyte.TaskEnvironment(name="orch_gpu", resources=flyte.Resources(gpu=1))


class ItemError(Exception):
    """A user exception raised by some gathered calls."""


# -- async tasks hold no thread -------------------------------------------------------
@env.task
async def io_fan_out(n: int) -> list[tuple[int, float, float]]:
    return list(await asyncio.gather(*[io_call(i, 0.5) for i in range(n)]))


def test_gathered_io_calls_all_await_at_once_on_two_threads(session: Client) -> None:
    """400 calls that each await 0.5 s, inside a task, on a cluster of 4 threads: no thread bound."""
    start = time.monotonic()
    results = flyte.run(io_fan_out, 400).outputs()[0]
    elapsed = time.monotonic() - start
    assert [i for i, _, _ in results] == list(range(400))
    assert max_overlap([(s, e) for _, s, e in results]) >= 350
    assert elapsed < 15, f"400 x 0.5 s of I/O took {elapsed:.1f}s: calls are waiting for threads"


def test_async_map_items_run_concurrently_and_the_cap_holds(session: Client) -> None:
    free = list(flyte.map(io_call, range(40), [0.3] * 40))
    assert max_overlap([(s, e) for _, s, e in free]) == 40
    capped = list(flyte.map(io_call, range(20), [0.2] * 20, concurrency=5))
    assert [i for i, _, _ in capped] == list(range(20))
    assert max_overlap([(s, e) for _, s, e in capped]) == 5


def test_async_calls_per_worker_are_bounded_by_config(no_session: None) -> None:
    """``flyte-dask.worker.max-async-calls`` caps the async calls a worker process runs at once."""
    with dask.config.set({"flyte-dask.worker.max-async-calls": 5}):
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
            flyte.init(Client(cluster, set_as_default=False))
            try:
                results = flyte.run(io_fan_out_of, 20, 0.2).outputs()[0]
            finally:
                flyte.shutdown()
    assert sorted(i for i, _, _ in results) == list(range(20))
    assert max_overlap([(s, e) for _, s, e in results]) == 5


@env.task
async def io_fan_out_of(n: int, seconds: float) -> list[tuple[int, float, float]]:
    return list(await asyncio.gather(*[io_call(i, seconds) for i in range(n)]))


@env.task
async def grouped_item(i: int) -> int:
    """Enters a group (a context variable set before it suspends) and calls a task inside it."""
    with flyte.group("per_item"):
        index, _, _ = await io_call(i, 0.01)
    return index


def test_batched_async_items_keep_their_own_context(session: Client) -> None:
    assert list(flyte.map(grouped_item, range(40))) == list(range(40))


# -- orchestrators hold no GPU --------------------------------------------------------
@gpu_env.task
def gpu_child(x: int) -> tuple[int, float, float, float]:
    """Holds the worker's one GPU; reports what the worker has left while it runs."""
    start = time.time()
    left = get_worker().state.available_resources["GPU"]
    time.sleep(0.05)
    return x, start, time.time(), left


@gpu_env.task
async def gpu_child_async(x: int) -> tuple[int, float, float, float]:
    start = time.time()
    left = get_worker().state.available_resources["GPU"]
    await asyncio.sleep(0.05)
    return x, start, time.time(), left


@gpu_env.task
def gpu_parent_map(n: int) -> list[tuple[int, float, float, float]]:
    """The seed's `main`, in a GPU environment: maps its GPU children."""
    return list(flyte.map(gpu_child, range(n)))


@gpu_env.task
async def gpu_parent_gather(n: int) -> list[tuple[int, float, float, float]]:
    return list(await asyncio.gather(*[gpu_child_async(i) for i in range(n)]))


@gpu_env.task
def gpu_grandparent(n: int) -> list[list[tuple[int, float, float, float]]]:
    return list(flyte.map(gpu_parent_map, [n, n]))


@gpu_env.task
def gpu_parent_reports_scheduler_use() -> float:
    """After its first nested call, the scheduler counts no GPU in use for this parent."""
    gpu_child(0)
    address = get_worker().address
    return float(
        get_client().run_on_scheduler(lambda dask_scheduler: dask_scheduler.workers[address].used_resources["GPU"])
    )


@pytest.fixture(scope="module")
def one_gpu() -> Iterator[Client]:
    """One worker advertising GPU=1 (4 threads) beside one CPU worker (2 threads)."""
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        add_workers(cluster, 1, 4, resources={"GPU": 1})
        add_workers(cluster, 1, 2)
        client = flyte.init(Client(cluster, set_as_default=False))
        client.wait_for_workers(2)
        yield client
        flyte.shutdown()


def _accounting(client: Client) -> tuple[dict[str, float], dict[str, float]]:
    """GPU in use per worker as the scheduler sees it, and GPU free per worker as each worker sees it."""
    used = client.run_on_scheduler(
        lambda dask_scheduler: {a: ws.used_resources.get("GPU", 0) for a, ws in dask_scheduler.workers.items()}
    )
    free = client.run(lambda dask_worker: dask_worker.state.available_resources.get("GPU", 0))
    return used, free


def _check_children(children: list[tuple[int, float, float, float]], n: int) -> None:
    assert sorted(x for x, *_ in children) == list(range(n))
    assert max_overlap([(s, e) for _, s, e, _ in children]) == 1  # one GPU: never two children at once
    assert {left for *_, left in children} == {0.0}  # the child holds the GPU; the parent holds none


@pytest.mark.parametrize("parent", [gpu_parent_map, gpu_parent_gather], ids=["sync-map", "async-gather"])
def test_gpu_parent_fans_out_gpu_children_on_one_gpu(one_gpu: Client, parent: flyte.TaskTemplate) -> None:
    run = flyte.run(parent, 6)
    run.wait(timeout=60)
    _check_children(run.outputs()[0], 6)
    used, free = _accounting(one_gpu)
    assert set(used.values()) == {0} and sorted(free.values()) == [0, 1]  # all returned, on both sides


def test_a_fractional_gpu_parent_gives_its_share_back(one_gpu: Client) -> None:
    """A parent holding half the GPU; each child needs all of it."""
    run = flyte.run(gpu_parent_map.override(resources=flyte.Resources(gpu=0.5)), 4)
    run.wait(timeout=60)
    _check_children(run.outputs()[0], 4)


def test_gpu_orchestrators_three_deep_on_one_gpu(one_gpu: Client) -> None:
    run = flyte.run(gpu_grandparent, 3)
    run.wait(timeout=60)
    for children in run.outputs()[0]:
        _check_children(children, 3)


def test_scheduler_and_worker_agree_while_the_parent_waits(one_gpu: Client) -> None:
    assert flyte.run(gpu_parent_reports_scheduler_use).outputs()[0] == 0.0
    used, _ = _accounting(one_gpu)
    assert set(used.values()) == {0}


def test_a_scheduler_without_the_plugin_still_runs_gpu_orchestrators(one_gpu: Client) -> None:
    """Workers report releases as scheduler events, which any scheduler accepts."""
    one_gpu.unregister_scheduler_plugin(ResourceReleasePlugin.name)
    try:
        run = flyte.run(gpu_parent_map, 3)
        run.wait(timeout=60)
        _check_children(run.outputs()[0], 3)
        assert len(one_gpu.run(lambda: 1)) == 2  # both workers still connected
    finally:
        one_gpu.register_plugin(ResourceReleasePlugin())


@pytest.mark.parametrize(
    ("seed_name", "task", "inputs", "expected"),
    [
        ("map_basic", "main", [1, 2, 3], [2, 4, 6]),
        ("map_concurrency", "main", [1, 2, 3], [2, 4, 6]),
        ("gather", "main", [1, 2], ["processed_1", "processed_2"]),
        ("sync_chain", "main", 3, 8),
        ("async_chain", "main", 3, 8),
    ],
)
def test_seed_programs_in_a_gpu_environment(
    one_gpu: Client, tmp_path: Path, seed_name: str, task: str, inputs: object, expected: object
) -> None:
    """The seed's programs with ``resources=flyte.Resources(gpu=1)`` on their one shared environment."""
    source = (SEEDS / f"{seed_name}.py").read_text()
    plain = 'flyte.TaskEnvironment(name="my_env")'
    assert plain in source
    script = tmp_path / f"gpu_{seed_name}.py"
    script.write_text(source.replace(plain, 'flyte.TaskEnvironment(name="my_env", resources=flyte.Resources(gpu=1))'))
    run = flyte.run(getattr(load_script(script), task), inputs)
    run.wait(timeout=60)
    assert run.outputs()[0] == expected


def test_gpu_parent_on_real_dask_processes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same on a `dask scheduler` with one `dask worker --resources GPU=1` process."""
    procs = DaskProcesses(tmp_path_factory.mktemp("one-gpu-processes"))
    try:
        procs.worker("--nthreads", "2", "--resources", "GPU=1")
        procs.wait_for_workers(1)
        flyte.init(procs.address)
        for parent in (gpu_parent_map, gpu_parent_gather):
            run = flyte.run(parent, 4)
            run.wait(timeout=60)
            _check_children(run.outputs()[0], 4)
    finally:
        flyte.shutdown()
        procs.close()


# -- gathers are batched, and each call keeps its guarantees ---------------------------
@env.task
async def maybe_fails(i: int) -> int:
    if i % 7 == 3:
        raise ItemError(f"item {i} failed")
    return i * 2


def test_many_gathered_calls_are_batched_and_each_keeps_its_own_outcome(session: Client) -> None:
    async def go() -> list[object]:
        return await asyncio.gather(*[maybe_fails(i) for i in range(300)], return_exceptions=True)

    with get_task_stream(client=session) as stream:
        results = asyncio.run(go())
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, ItemError) and str(result) == f"item {i} failed" and result.code == "ItemError"
            assert "in maybe_fails" in "".join(traceback.format_tb(result.__traceback__))
        else:
            assert result == i * 2
    dask_tasks = [t for t in stream.data if key_split(t["key"]) == "orch.maybe_fails"]
    assert 0 < len(dask_tasks) < 100  # 300 calls, packed into batches


@gpu_env.task
async def needs_a_gpu(i: int) -> int:
    return i


def test_a_gather_no_worker_can_run_fails_every_caller(session: Client) -> None:
    async def go() -> list[object]:
        return await asyncio.gather(*[needs_a_gpu(i) for i in range(20)], return_exceptions=True)

    with dask.config.set({"flyte-dask.resources-timeout": "0.2s"}):
        results = asyncio.run(asyncio.wait_for(go(), 60))
    assert all(isinstance(r, flyte.UnsatisfiableResourcesError) for r in results)


def test_the_first_failure_raises_without_return_exceptions(session: Client) -> None:
    async def go() -> list[int]:
        return await asyncio.gather(*[maybe_fails(i) for i in range(50)])

    # As with asyncio, the failure that completes first raises: batches finish in any order.
    with pytest.raises(ItemError, match=r"^item \d+ failed$") as raised:
        asyncio.run(go())
    failed_item = int(str(raised.value).split()[1])
    assert failed_item % 7 == 3 and raised.value.code == "ItemError"


def test_cancelling_one_of_many_gathered_calls(session: Client) -> None:
    async def go() -> tuple[list[object], asyncio.Task[object]]:
        calls = [asyncio.ensure_future(io_call(i, 0.5)) for i in range(60)]
        await asyncio.sleep(0.1)
        calls[7].cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        return results, calls[7]

    results, cancelled = asyncio.run(go())
    assert cancelled.cancelled() and isinstance(results[7], asyncio.CancelledError)
    assert [r[0] for i, r in enumerate(results) if i != 7] == [i for i in range(60) if i != 7]  # type: ignore[index]


@env.task
async def waits_for_cancel(folder: str, i: int) -> str:
    """Says it started, then waits; says so if it is cancelled."""
    Path(folder, f"started-{i}").touch()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        Path(folder, f"cancelled-{i}").touch()
        raise
    return "finished"


@pytest.mark.parametrize("calls", [1, 24], ids=["lone-call", "gathered-batch"])
def test_cancelling_the_callers_stops_the_coroutines_on_the_worker(session: Client, tmp_path: Path, calls: int) -> None:
    folder = str(tmp_path)

    async def go() -> None:
        gathered = asyncio.gather(*[waits_for_cancel(folder, i) for i in range(calls)])
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("started-*"))) < calls:
            assert time.monotonic() < deadline, "the calls never started"
            await asyncio.sleep(0.02)
        gathered.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gathered

    asyncio.run(go())
    assert eventually(lambda: len(list(tmp_path.glob("cancelled-*"))) == calls, timeout=15)


# -- small maps use the threads they have --------------------------------------------
@env.task
def meet(i: int, n: int, tag: str) -> str:
    """Start, then wait for every item of the map to have started: only items that run at once all return."""
    Event(f"{tag}-{i}").set()
    for j in range(n):
        if not Event(f"{tag}-{j}").wait(timeout=30):
            raise TimeoutError(f"item {j} had not started 30 s after item {i} did")
    return get_worker().address


@pytest.fixture(scope="module")
def mixed() -> Iterator[tuple[Client, set[str]]]:
    """A GPU=1 worker (2 threads) beside two CPU workers (2 threads each)."""
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        add_workers(cluster, 1, 2, resources={"GPU": 1})
        add_workers(cluster, 2, 2)
        client = flyte.init(Client(cluster, set_as_default=False))
        client.wait_for_workers(3)
        cpu = {a for a, w in client.scheduler_info()["workers"].items() if not w.get("resources")}
        yield client, cpu
        flyte.shutdown()


def test_small_maps_run_every_item_at_once_on_a_mixed_cluster(mixed: tuple[Client, set[str]]) -> None:
    # Each item waits at a barrier for all the others to start (no timing of the machine): a map that ran an item
    # only after another finished, or put two on one thread, never gets past it.
    _, cpu_workers = mixed
    for round in range(20):
        for n in (3, 4):
            tag = f"meet-{uuid.uuid4().hex}"
            addresses = list(flyte.map(meet, range(n), [n] * n, [tag] * n, concurrency=100))
            assert all(isinstance(a, str) for a in addresses), (round, n, addresses)
            assert set(addresses) <= cpu_workers


# -- iterables are pulled by the consumer --------------------------------------------
@env.task
def double(x: int) -> int:
    return 2 * x


def test_a_blocking_generator_does_not_stall_the_client(session: Client) -> None:
    release = threading.Event()
    pulled_first = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        pulled_first.set()
        assert release.wait(30)
        yield 1

    with ThreadPoolExecutor(1) as pool:
        mapped = pool.submit(lambda: list(flyte.map(double, items(), batch_size=1)))
        assert pulled_first.wait(30)
        assert double(21) == 42  # the client answers while the generator blocks
        release.set()
        assert mapped.result(timeout=30) == [0, 2]


def test_a_failing_generator_hands_back_what_came_before(session: Client) -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise OSError("source went away")

    got: list[int] = []
    with pytest.raises(OSError, match="source went away"):
        for value in flyte.map(double, items(), batch_size=2):
            got.append(value)
    assert got == [0, 2, 4, 6, 8]


def test_a_generator_whose_items_call_tasks(session: Client) -> None:
    assert list(flyte.map(double, (double(i) for i in range(5)))) == [0, 4, 8, 12, 16]
