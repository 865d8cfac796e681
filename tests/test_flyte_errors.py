"""flyte_dask.errors on real Dask: Flyte 2's classes, Dask's failures mapped onto them,
per-call environment variables, reuse, queue-time bounds and the Flyte 2 names beyond the seed."""

from __future__ import annotations

import asyncio
import os
import pickle
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster
from distributed.scheduler import KilledWorker

import flyte_dask as flyte
from flyte_dask import errors

env = flyte.TaskEnvironment(name="ferr")
blue = flyte.TaskEnvironment(name="blue", env_vars={"COLOUR": "blue", "SHARED": "blue"})
green = flyte.TaskEnvironment(name="green", env_vars={"COLOUR": "green"})
reused = flyte.TaskEnvironment(name="reused", reusable=flyte.ReusePolicy(replicas=2, idle_ttl=60))

_model: dict[str, object] = {}


@env.task
def dies(x: int) -> int:
    os._exit(1)


@env.task
def hog(megabytes: int) -> int:
    block = bytearray(megabytes * 2**20)
    for _ in range(600):  # hold it until the nanny notices
        time.sleep(0.05)
    return len(block)


@env.task
def out_of_memory() -> int:
    raise MemoryError("cannot allocate the batch")


@env.task
def busy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@env.task(timeout=flyte.Timeout(max_queued_time=0.5))
def impatient() -> str:
    return "started"


@env.task(retries=10, timeout=flyte.Timeout(deadline=1.0))
def keeps_failing() -> int:
    time.sleep(0.3)
    raise ConnectionError("down")


@blue.task
async def blue_sees(pause: float) -> tuple[str | None, str | None]:
    await asyncio.sleep(pause)
    return os.environ.get("COLOUR"), os.getenv("SHARED")


@green.task
async def green_sees(pause: float) -> tuple[str | None, str | None]:
    await asyncio.sleep(pause)
    return os.environ.get("COLOUR"), os.getenv("SHARED")


@green.task
def green_sync(pause: float) -> str | None:
    time.sleep(pause)
    return os.environ.get("COLOUR")


@env.task
def plain_env() -> str | None:
    return os.environ.get("COLOUR")


@reused.task
def predict(x: int) -> tuple[int, int]:
    """Loads its 'model' once per worker process and keeps it between calls."""
    if "model" not in _model:
        _model["model"] = object()
        _model["loads"] = 0
    _model["loads"] = int(_model["loads"]) + (1 if _model.get("pid") != os.getpid() else 0)  # type: ignore[call-overload]
    _model["pid"] = os.getpid()
    return os.getpid(), int(_model["loads"])  # type: ignore[call-overload]


@pytest.fixture
def one_slot() -> Iterator[Client]:
    """A cluster of one single-thread worker process, which gives up on a task after one lost worker."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, memory_limit="400MiB") as cluster:
            client = flyte.init(Client(cluster, set_as_default=False))
            yield client
            flyte.shutdown()


def test_every_flyte_2_error_class_is_here_with_its_base() -> None:
    expected = {
        "BaseRuntimeError": "RuntimeError",
        "InitializationError": "BaseRuntimeError",
        "RuntimeSystemError": "BaseRuntimeError",
        "UnionRpcError": "RuntimeSystemError",
        "RuntimeUserError": "BaseRuntimeError",
        "RuntimeUnknownError": "BaseRuntimeError",
        "OOMError": "RuntimeUserError",
        "GPUFaultError": "BaseRuntimeError",
        "TaskInterruptedError": "RuntimeUserError",
        "PrimaryContainerNotFoundError": "RuntimeUserError",
        "TaskTimeoutError": "RuntimeUserError",
        "MaxQueuedTimeExceededError": "TaskTimeoutError",
        "MaxRuntimeExceededError": "TaskTimeoutError",
        "DeadlineExceededError": "TaskTimeoutError",
        "ConditionTimedoutError": "RuntimeUserError",
        "RetriesExhaustedError": "RuntimeUserError",
        "InvalidImageNameError": "RuntimeUserError",
        "ImagePullBackOffError": "RuntimeUserError",
        "CustomError": "RuntimeUserError",
        "NotInTaskContextError": "RuntimeUserError",
        "ActionNotFoundError": "RuntimeError",
        "RemoteTaskNotFoundError": "RuntimeUserError",
        "RemoteTaskUsageError": "RuntimeUserError",
        "LogsNotYetAvailableError": "BaseRuntimeError",
        "RuntimeDataValidationError": "RuntimeUserError",
        "DeploymentError": "RuntimeUserError",
        "ImageBuildError": "RuntimeUserError",
        "ModuleLoadError": "RuntimeUserError",
        "InlineIOMaxBytesBreached": "RuntimeUserError",
        "ActionAbortedError": "RuntimeUserError",
        "SlowDownError": "RuntimeUserError",
        "ResourceExhaustedError": "SlowDownError",
        "OnlyAsyncIOSupportedError": "RuntimeUserError",
        "ParameterMaterializationError": "RuntimeUserError",
        "RestrictedTypeError": "RuntimeUserError",
        "CodeBundleError": "RuntimeUserError",
        "SyncTaskCallInAsyncContextError": "RuntimeUserError",
        "TraceDoesNotAllowNestedTasksError": "RuntimeUserError",
        "InvalidPackageError": "RuntimeUserError",
        "NonRecoverableError": "RuntimeUserError",
        "ConditionAlreadyExistsError": "RuntimeUserError",
        "ConditionFailedError": "RuntimeUserError",
        "ConditionNotFoundError": "RuntimeUserError",
        "AppleSiliconError": "RuntimeUserError",
    }
    for name, base in expected.items():
        assert getattr(errors, name).__bases__[0].__name__ == base, name
    error = errors.RuntimeUserError("ValueError", "bad", "tcp://w:1")
    assert (error.code, error.kind, error.root_cause_message, error.worker) == (
        "ValueError",
        "user",
        "bad",
        "tcp://w:1",
    )
    assert issubclass(errors.GPUFaultUserError, errors.RuntimeUserError) and issubclass(
        errors.GPUFaultSystemError, errors.RuntimeSystemError
    )


def test_a_task_error_is_both_classes_and_survives_pickling(session: Client) -> None:
    with pytest.raises(KeyError) as info:
        _raise_key_error()
    error = info.value
    assert isinstance(error, errors.RuntimeUserError) and error.code == "KeyError" and str(error) == "'missing'"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and again.code == "KeyError" and again.worker == error.worker
    assert error.__traceback__ is not None


@env.task
def key_error() -> int:
    return {}["missing"]  # type: ignore[no-any-return]


def _raise_key_error() -> int:
    return key_error()


def test_a_lost_worker_is_a_runtime_system_error_naming_it(one_slot: Client) -> None:
    with pytest.raises(errors.RuntimeSystemError) as info:
        dies(1)
    error = info.value
    assert error.code == "KilledWorker" and error.kind == "system" and error.worker.startswith("tcp://")
    assert "died while running it" in str(error)
    assert [type(r).__name__ for r in flyte.map(dies, [1])] == ["KilledWorker"]  # a map item too


def test_a_worker_restarted_for_memory_is_an_oom_error(one_slot: Client) -> None:
    with pytest.raises(errors.OOMError) as oom:
        hog(600)
    assert oom.value.code == "OOMError" and "restarted for exceeding its memory limit" in oom.value.root_cause_message
    assert isinstance(oom.value, KilledWorker) and "restarted for exceeding its memory limit" in str(oom.value)
    with pytest.raises(MemoryError) as info:
        out_of_memory()
    assert isinstance(info.value, errors.OOMError) and info.value.code == "MemoryError"


def test_max_queued_time_fails_a_call_that_waited_too_long(one_slot: Client) -> None:
    async def go() -> list[object]:
        blocker = asyncio.ensure_future(busy.aio(1.5))
        await asyncio.sleep(0.3)  # the only thread is now taken
        late = await asyncio.gather(impatient.aio(), return_exceptions=True)
        return [await blocker, *late]

    first, late = asyncio.run(go())
    assert first == 1.5
    assert isinstance(late, errors.MaxQueuedTimeExceededError) and isinstance(late, TimeoutError)
    assert "max_queued_time of 0.5s" in str(late)
    assert impatient() == "started"


def test_deadline_bounds_all_attempts(session: Client) -> None:
    start = time.monotonic()
    with pytest.raises(errors.TaskTimeoutError) as info:
        keeps_failing()
    assert time.monotonic() - start < 5
    assert isinstance(info.value, (errors.DeadlineExceededError, errors.RetriesExhaustedError))


def test_env_vars_are_seen_by_their_own_calls_only(session: Client) -> None:
    async def together() -> list[object]:
        calls = [blue_sees(0.3), green_sees(0.2), blue_sees(0.1), green_sees(0.0)] * 5
        return list(await asyncio.gather(*calls))

    seen = asyncio.run(together())
    assert seen == [("blue", "blue"), ("green", None), ("blue", "blue"), ("green", None)] * 5
    assert list(flyte.map(green_sync, [0.05] * 8)) == ["green"] * 8
    assert plain_env() is None  # nothing left behind in the worker processes
    run = flyte.with_runcontext(env_vars={"COLOUR": "run-wide"}).run(plain_env)
    assert run.outputs()[0] == "run-wide"


def test_reusable_environment_keeps_module_state_per_worker_process(session: Client) -> None:
    results = list(flyte.map(predict, range(200), batch_size=5))
    by_process: dict[int, int] = {}
    for pid, loads in results:
        by_process[pid] = max(by_process.get(pid, 0), loads)
    assert by_process and all(loads == 1 for loads in by_process.values()), by_process


def test_platform_settings_are_accepted_and_each_warns_once() -> None:
    image = flyte.Image.from_debian_base(python_version=(3, 12)).with_pip_packages("numpy").with_apt_packages("git")
    assert [step[0] for step in image.steps] == ["from_debian_base", "with_pip_packages", "with_apt_packages"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            flyte.TaskEnvironment(
                name="deploy",
                image=image,
                secrets=[flyte.Secret(key="openai", as_env_var="OPENAI_KEY")],
                pod_template=flyte.PodTemplate(primary_container_name="main"),
                queue="gpu",
                reusable=flyte.ReusePolicy(),
            )
    messages = [str(w.message) for w in caught]
    for name in ("image", "secrets", "pod_template", "queue"):
        assert sum(f"TaskEnvironment({name}=...)" in m for m in messages) <= 1
    assert not any("reusable" in m for m in messages)
    assert flyte.Secret(key="db-password").env_var == "DB_PASSWORD"
    assert flyte.Resources(gpu=flyte.GPU("H100", 2)).dask_resources() == {"GPU": 2.0, "GPU-H100": 2.0}


def test_init_from_config_reads_the_scheduler_address(tmp_path: Path, cluster: LocalCluster) -> None:
    config = tmp_path / "flyte-dask.yaml"
    config.write_text(f"address: {cluster.scheduler_address}\ntimeout: 5\n")
    client = flyte.init_from_config(config)
    try:
        assert client.scheduler.address == cluster.scheduler_address
        assert key_error.__name__ == "key_error" and plain_env() is None
    finally:
        flyte.shutdown()
    with pytest.raises(FileNotFoundError, match="address: tcp://host:8786"):
        flyte.init_from_config(tmp_path / "missing.yaml")


_flaky_seen: set[int] = set()


@env.task(retries=1)
def sometimes(x: int) -> int:
    """Items divisible by 5 always fail (retried once, then failed); items divisible by 7 fail once, then pass."""
    if x % 5 == 0:
        raise ValueError(f"{x} is bad")
    if x % 7 == 0 and x not in _flaky_seen:
        _flaky_seen.add(x)
        raise ConnectionError("once")
    return x


@env.task
def summarized(n: int) -> int:
    results = list(
        flyte.map(sometimes, range(n), batch_size=10)
    )  # one worker process per batch: its module state is its own
    with flyte.group("again"):
        more = list(flyte.map(sometimes, range(20), batch_size=20))
    return sum(1 for r in results + more if isinstance(r, Exception))


def test_run_summary_counts_items_failures_and_retries_per_group(session: Client) -> None:
    run = flyte.run(summarized, 100)
    assert run.outputs()[0] == 20 + 4
    rows = {(row.group, row.task): row for row in run.summary().rows}
    top = rows[("ferr.sometimes_map", "ferr.sometimes")]
    assert (top.items, top.failed, top.succeeded) == (100, 20, 80)
    assert top.retried == 20 + len(
        [x for x in range(100) if x % 7 == 0 and x % 5]
    )  # each failing item was retried once
    assert top.dask_tasks == 10 and top.wall_seconds > 0 and top.items_per_second > 0
    nested = rows[("again / ferr.sometimes_map", "ferr.sometimes")]
    assert (nested.items, nested.failed) == (20, 4)
    assert rows[("", "ferr.summarized")].items == 1
    table = str(run)
    assert (
        table.splitlines()[0] == f"run {run.name}"
        and "ferr.sometimes_map" in table
        and "again / ferr.sometimes_map" in table
    )
