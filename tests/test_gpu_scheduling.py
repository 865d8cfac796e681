"""GPU-aware scheduling on CPU: real workers that advertise GPU=1 (and a model) as Dask resources.

Only CUDA is missing here: routing, packing, placement, the unsatisfiable-request error,
cluster-wide limits and the telemetry plumbing (behind a fake NVML probe) are real.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster, get_worker

import flyte_dask as flyte
from flyte_dask._internal.transport.cluster import add_workers, start_local_cluster
from flyte_dask.gpu import GPUDevice, GPUResources, ProbePlugin, probe, set_probe

from .conftest import max_overlap

ROOT = Path(__file__).resolve().parents[1]

gpu_env = flyte.TaskEnvironment(name="gpu_env", resources=flyte.Resources(gpu=1))
cpu_env = flyte.TaskEnvironment(name="cpu_env")


class FakeProbe:
    """Stands in for NVML: one H100 whose memory use grows by 1 MiB per reading."""

    def __init__(self, count: int = 1, name: str = "NVIDIA H100 80GB HBM3") -> None:
        self.count = count
        self.name = name
        self.readings = 0

    def devices(self) -> list[GPUDevice]:
        return [GPUDevice(i, f"GPU-fake-{i}", self.name, 80 << 30) for i in range(self.count)]

    def memory_used(self, device: GPUDevice, pid: int) -> tuple[int, str]:
        self.readings += 1
        return self.readings << 20, "process"


@gpu_env.task
def on_gpu(x: int, seconds: float = 0.0) -> tuple[int, str, float, float]:
    start = time.time()
    time.sleep(seconds)
    return x, get_worker().address, start, time.time()


@gpu_env.task
async def on_gpu_async(x: int) -> str:
    return get_worker().address


@cpu_env.task
def on_cpu(x: int, seconds: float = 0.0) -> str:
    time.sleep(seconds)
    return get_worker().address


@cpu_env.task
def gpu_pipeline(n: int) -> list[str]:
    """A CPU orchestrator fanning out to GPU tasks (map and direct calls)."""
    mapped = [address for _, address, _, _ in flyte.map(on_gpu, range(n), batch_size=2)]
    return [*mapped, on_gpu(99)[1]]


@pytest.fixture(scope="module")
def gpu_cluster() -> Iterator[tuple[LocalCluster, dict[str, str]]]:
    """Two 4-thread 'GPU' workers (an H100 and an A10G) and one 2-thread CPU worker."""
    with dask.config.set({"distributed.scheduler.locks.lease-validation-interval": "100ms"}):
        with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
            add_workers(cluster, 1, 4, resources={"GPU": 1, "GPU-H100": 1})
            add_workers(cluster, 1, 4, resources={"GPU": 1, "GPU-A10G": 1})
            add_workers(cluster, 1, 2)
            with Client(cluster, set_as_default=False) as client:
                client.wait_for_workers(3)
                client.register_plugin(ProbePlugin(FakeProbe()))
                roles = {}
                for address, info in client.scheduler_info()["workers"].items():
                    resources = info.get("resources") or {}
                    roles["h100" if "GPU-H100" in resources else "a10g" if "GPU-A10G" in resources else "cpu"] = address
            roles["scheduler"] = cluster.scheduler_address
            yield cluster, roles


@pytest.fixture
def gpu(gpu_cluster: tuple[LocalCluster, dict[str, str]]) -> Iterator[dict[str, str]]:
    """flyte_dask initialised on the GPU-advertising cluster; yields worker addresses by role."""
    cluster, roles = gpu_cluster
    flyte.init(Client(cluster, set_as_default=False))
    yield roles
    flyte.shutdown()


def test_gpu_calls_run_only_on_gpu_workers(gpu: dict[str, str]) -> None:
    gpu_workers = {gpu["h100"], gpu["a10g"]}
    assert on_gpu(1)[1] in gpu_workers
    assert {r[1] for r in flyte.map(on_gpu, range(20), batch_size=1)} <= gpu_workers

    async def gathered() -> list[str]:
        return await asyncio.gather(*[on_gpu_async(i) for i in range(10)])

    assert set(asyncio.run(gathered())) <= gpu_workers


def test_model_string_routes_to_that_model(gpu: dict[str, str]) -> None:
    h100 = on_gpu.override(resources=flyte.Resources(gpu="H100:1"))
    a10g = on_gpu.override(resources=flyte.Resources(gpu="A10G"))
    assert {r[1] for r in flyte.map(h100, range(8), batch_size=1)} == {gpu["h100"]}
    assert {r[1] for r in flyte.map(a10g, range(8), batch_size=1)} == {gpu["a10g"]}


@pytest.mark.parametrize(("request_", "expected"), [("H100:0.25", 4), ("H100:0.5", 2), ("H100:1", 1)])
def test_fractional_gpus_pack_on_one_gpu(gpu: dict[str, str], request_: str, expected: int) -> None:
    shared = on_gpu.override(resources=flyte.Resources(gpu=request_))
    results = list(flyte.map(shared, range(8), itertools.repeat(0.3), batch_size=1))
    assert {r[1] for r in results} == {gpu["h100"]}
    assert max_overlap([(s, e) for _, _, s, e in results]) == expected


def test_cpu_work_prefers_cpu_workers(gpu: dict[str, str]) -> None:
    assert set(flyte.map(on_cpu, range(24), itertools.repeat(0.02), batch_size=1)) == {gpu["cpu"]}
    assert on_cpu(1) == gpu["cpu"]


def test_cpu_work_still_runs_where_every_worker_has_a_gpu(no_session: None) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=2, resources={"GPU": 1}, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            assert len(set(flyte.map(on_cpu, range(4)))) == 1
        finally:
            flyte.shutdown()


@pytest.mark.parametrize(("request_", "shown"), [(8, "{'GPU': 8.0}"), ("B200:1", "'GPU-B200': 1.0")])
def test_unsatisfiable_request_fails_clearly(gpu: dict[str, str], request_: object, shown: str) -> None:
    greedy = on_gpu.override(resources=flyte.Resources(gpu=request_))  # type: ignore[arg-type]
    with dask.config.set({"flyte-dask.resources-timeout": "0.5s"}):
        start = time.monotonic()
        with pytest.raises(flyte.UnsatisfiableResourcesError) as info:
            greedy(1)
        assert time.monotonic() - start < 10
        with pytest.raises(flyte.UnsatisfiableResourcesError):
            flyte.map(greedy, [1, 2])
    message = str(info.value)
    assert "task gpu_env.on_gpu asks for" in message and shown in message
    assert gpu["h100"] in message and "'GPU-H100': 1" in message and "(no resources)" in message
    assert "--resources" in message


def test_other_accelerators_are_resources_named_for_their_class(no_session: None) -> None:
    # Flyte's TPU(...), Neuron(...), AMD_GPU(...) devices: workers started with --resources TPU=1 run them
    tpu = on_cpu.override(resources=flyte.Resources(gpu=flyte.TPU("V5P", "2x2x1")))
    neuron = on_cpu.override(resources=flyte.Resources(gpu=flyte.Neuron("Trn1")))
    assert tpu.dask_resources == {"TPU": 1.0, "TPU-V5P": 1.0} and neuron.resources.gpu_count == 0
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        (tpu_worker,) = add_workers(cluster, 1, 2, resources={"TPU": 1, "TPU-V5P": 1})
        add_workers(cluster, 1, 2)
        client = flyte.init(Client(cluster, set_as_default=False))
        client.wait_for_workers(2)
        try:
            workers = {
                info["name"]: address for address, info in client.scheduler_info(n_workers=-1)["workers"].items()
            }
            assert set(flyte.map(tpu, range(6), itertools.repeat(0.01), batch_size=1)) == {workers[tpu_worker]}
            with dask.config.set({"flyte-dask.resources-timeout": "0.5s"}):
                with pytest.raises(flyte.UnsatisfiableResourcesError, match=r"asks for \{'NEURON': 1.0, 'NEURON-TRN1'"):
                    neuron(0)
        finally:
            flyte.shutdown()
    with pytest.raises(ValueError, match="use one of GPU, TPU"):
        flyte.Device(1, "FPGA")  # type: ignore[arg-type]


def test_request_waits_for_a_worker_to_join(no_session: None) -> None:
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        flyte.init(Client(cluster, set_as_default=False))
        try:
            l4 = on_gpu.override(resources=flyte.Resources(gpu="L4:1"))
            outcome: list[object] = []
            caller = threading.Thread(target=lambda: outcome.append(l4(5)))
            with dask.config.set({"flyte-dask.resources-timeout": "60s"}):
                caller.start()
                add_workers(cluster, 1, 1, resources={"GPU": 1, "GPU-L4": 1})
                caller.join(60)
            assert outcome and outcome[0][0] == 5  # type: ignore[index]
        finally:
            flyte.shutdown()


SECOND_CLIENT = """
import sys, time, json
import flyte_dask as flyte
from flyte_dask._loader import load_script
limited = load_script(sys.argv[2]).limited
flyte.init(sys.argv[1])
print("READY", flush=True)
sys.stdin.readline()
print(json.dumps(list(flyte.map(limited, range(6), batch_size=1))), flush=True)
"""

LIMITED_TASKS = """
import time
import flyte_dask as flyte
env = flyte.TaskEnvironment(name="limited_env", limit=flyte.ClusterLimit("shared-service", 2))

@env.task
def limited(x: int) -> tuple[float, float]:
    start = time.time()
    time.sleep(0.3)
    return start, time.time()
"""


def test_cluster_limit_holds_across_two_clients(gpu: dict[str, str], tmp_path: Path) -> None:
    tasks = tmp_path / "limited_tasks.py"
    tasks.write_text(LIMITED_TASKS)
    from flyte_dask._loader import load_script

    limited = load_script(tasks).limited
    other = subprocess.Popen(
        [sys.executable, "-c", SECOND_CLIENT, gpu["scheduler"], str(tasks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert other.stdout is not None and other.stdin is not None
    assert other.stdout.readline().strip() == "READY"
    other.stdin.write("go\n")
    other.stdin.flush()
    mine = list(flyte.map(limited, range(6), batch_size=1))
    theirs = [tuple(span) for span in json.loads(other.stdout.readline())]
    assert other.wait(60) == 0
    assert max_overlap(mine + theirs) == 2
    assert max_overlap(mine) <= 2 and len(mine) == len(theirs) == 6


DYING_DRIVER = """
import sys
import flyte_dask as flyte
client = flyte.init(sys.argv[1])
sem = flyte.ClusterLimit("dying", 1, lease_timeout=1).semaphore(client)
sem.acquire()
print("HELD", flush=True)
sys.stdin.readline()
"""


def test_a_dead_drivers_leases_expire(gpu: dict[str, str]) -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", DYING_DRIVER, gpu["scheduler"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert driver.stdout is not None
    assert driver.stdout.readline().strip() == "HELD"
    client = Client(gpu["scheduler"], set_as_default=False)
    try:
        sem = flyte.ClusterLimit("dying", 1).semaphore(client)
        assert sem.acquire(timeout=0.2) is False  # the live driver holds the only lease
        driver.kill()
        driver.wait()
        killed = time.monotonic()
        assert sem.acquire(timeout=20) is True
        # freed within its lease_timeout (1 s) plus the scheduler's lease check interval (10 s by default)
        assert time.monotonic() - killed < 1 + 10 + 2
        sem.release()
    finally:
        client.close()


def test_gpu_telemetry_is_available_from_the_run(gpu: dict[str, str]) -> None:
    run = flyte.run(gpu_pipeline, 6)
    addresses = run.outputs()[0]
    usage = run.gpu_usage()
    assert len(usage) == 4  # three map batches of two items and one direct call
    assert sorted(u["items"] for u in usage) == [1, 2, 2, 2]
    for record in usage:
        assert record["task"] == "gpu_env.on_gpu" and record["gpu_model"] == "H100" and record["gpu_index"] == 0
        assert record["peak_memory_bytes"] >= 1 << 20 and record["memory_scope"] == "process"
        assert record["worker"] in addresses and record["seconds"] >= 0
    assert flyte.run(on_cpu, 1).gpu_usage() == []


def test_gpu_resources_plugin_advertises_the_workers_own_gpu(no_session: None) -> None:
    """Two GPUs visible (dask-cuda's rotated CUDA_VISIBLE_DEVICES): the worker offers the first."""
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(ProbePlugin(FakeProbe(count=2)))
        client.register_plugin(GPUResources())
        (info,) = client.scheduler_info()["workers"].values()
        assert info["resources"] == {"GPU": 1, "GPU-H100": 1}


def test_embedded_cluster_without_dask_cuda_warns(no_session: None) -> None:
    previous = probe()
    set_probe(FakeProbe())
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cluster = start_local_cluster(n_workers=1, threads_per_worker=1, dashboard_address=None)
        cluster.close()
    finally:
        set_probe(previous)
    assert any("dask-cuda is not installed" in str(w.message) for w in caught)


@gpu_env.task
def gpu_array(x: int) -> tuple[list[float], str]:
    return [float(x)] * 4, get_worker().address


@gpu_env.task
def gpu_sum(made: tuple[list[float], str]) -> tuple[float, str, str]:
    values, made_on = made
    return sum(values), made_on, get_worker().address


def test_gpu_maps_fed_by_gpu_maps_run_chained_on_gpu_workers(gpu: dict[str, str]) -> None:
    gpu_workers = {gpu["h100"], gpu["a10g"]}
    out = list(flyte.map(gpu_sum, flyte.map(gpu_array, range(24))))
    assert [total for total, _, _ in out] == [4.0 * x for x in range(24)]
    assert {made for _, made, _ in out} <= gpu_workers and {used for _, _, used in out} <= gpu_workers


@cpu_env.task
def cpu_array(x: int) -> tuple[list[float], str]:
    return [float(x)] * 4, get_worker().address


def test_each_stage_of_a_chain_carries_its_own_resources(gpu: dict[str, str]) -> None:
    # One graph submission holds both stages; the GPU stage's restriction is its layer's alone.
    gpu_workers = {gpu["h100"], gpu["a10g"]}
    out = list(flyte.map(gpu_sum, flyte.map(cpu_array, range(24))))
    assert [total for total, _, _ in out] == [4.0 * x for x in range(24)]
    assert {used for _, _, used in out} <= gpu_workers
    # and the other way round: a CPU stage after a GPU stage may run on any worker, the GPU stage only on GPUs
    out = list(flyte.map(cpu_sum, flyte.map(gpu_array, range(24))))
    assert [total for total, _, _ in out] == [4.0 * x for x in range(24)]
    assert {made for _, made, _ in out} <= gpu_workers


@cpu_env.task
def cpu_sum(made: tuple[list[float], str]) -> tuple[float, str, str]:
    values, made_on = made
    return sum(values), made_on, get_worker().address
