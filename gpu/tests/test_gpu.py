"""Points 1-8 of GPU support on a real GPU: routing, packing, placement, errors, limits,
CuPy data, NVML telemetry, and the deploy/machines scripts."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import dask
import pytest

import flyte_dask as flyte
from flyte_dask.gpu import probe

ROOT = Path(__file__).resolve().parents[2]

gpu_env = flyte.TaskEnvironment(name="gpu_suite", resources=flyte.Resources(gpu=1))
cpu_env = flyte.TaskEnvironment(name="cpu_suite")


def overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


@gpu_env.task
def matmul(seed: int, size: int = 2048, hold: float = 0.0) -> dict[str, object]:
    """A real CuPy product; reports where it ran and when (``hold`` keeps the GPU busy longer)."""
    import cupy as cp
    from distributed import get_worker

    start = time.time()
    rng = cp.random.default_rng(seed)
    a = rng.random((size, size), dtype=cp.float32)
    c = a @ a
    cp.cuda.Stream.null.synchronize()
    if hold:
        time.sleep(hold)
    return {
        "worker": get_worker().address,
        "device": int(cp.cuda.runtime.getDevice()),
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "sum": float(c.sum()),
        "start": start,
        "end": time.time(),
    }


@gpu_env.task
def make_array(n: int) -> object:
    """Returns a CuPy array: NumPy where the caller has no GPU, CuPy where it has one."""
    import cupy as cp

    return cp.arange(n, dtype=cp.float32)


@gpu_env.task
def total(values: object) -> float:
    import cupy as cp

    return float(cp.asarray(values).sum())


@gpu_env.task
def hold_memory(megabytes: int, seconds: float) -> int:
    import cupy as cp

    block = cp.ones(megabytes << 18, dtype=cp.float32)  # megabytes MiB
    cp.cuda.Stream.null.synchronize()
    time.sleep(seconds)
    return int(block.size)


@cpu_env.task
def where_cpu(x: int) -> str:
    from distributed import get_worker

    return get_worker().address


@cpu_env.task
def cpu_receives_gpu_result(n: int) -> dict[str, object]:
    """On a CPU worker (no GPU visible): a GPU task's CuPy result arrives as NumPy."""
    value = make_array(n)
    return {"module": type(value).__module__, "sum": float(value.sum()), "gpu_sum": total(value)}


def test_init_starts_gpu_workers_and_cpu_workers(gpu_client: object, roles: dict[str, list[str]]) -> None:
    devices = probe().devices()
    workers = gpu_client.scheduler_info()["workers"]  # type: ignore[attr-defined]
    assert len(roles["gpu"]) == len(devices) and roles["cpu"]
    for address in roles["gpu"]:
        resources = workers[address]["resources"]
        assert resources["GPU"] == 1 and resources[f"GPU-{devices[0].model}"] == 1
        assert workers[address]["nthreads"] >= 4


def test_gpu_tasks_run_on_their_gpu(roles: dict[str, list[str]]) -> None:
    direct = matmul(1)
    mapped = list(flyte.map(matmul, range(8), return_exceptions=False))
    for result in [direct, *mapped]:
        assert result["worker"] in roles["gpu"] and result["device"] == 0 and result["visible"]
    assert direct["sum"] > 0


def test_model_string_routes_and_unknown_model_fails(roles: dict[str, list[str]]) -> None:
    model = probe().devices()[0].model
    assert matmul.override(resources=flyte.Resources(gpu=f"{model}:1"))(2)["worker"] in roles["gpu"]
    with dask.config.set({"flyte-dask.resources-timeout": "1s"}):
        with pytest.raises(flyte.UnsatisfiableResourcesError, match=f"GPU-{model}"):
            matmul.override(resources=flyte.Resources(gpu="NOSUCHGPU:1"))(3)
        with pytest.raises(flyte.UnsatisfiableResourcesError, match=r"'GPU': 8\.0"):
            matmul.override(resources=flyte.Resources(gpu=8))(3)


@pytest.mark.parametrize(("gpu", "expected"), [(0.25, 4), (0.5, 2), (1, 1)])
def test_fractional_gpus_pack(roles: dict[str, list[str]], gpu: float, expected: int) -> None:
    if len(roles["gpu"]) != 1:
        pytest.skip("packing is measured on a one-GPU host")
    shared = matmul.override(resources=flyte.Resources(gpu=gpu))
    results = list(
        flyte.map(
            shared, range(8), itertools.repeat(1024), itertools.repeat(0.5), batch_size=1, return_exceptions=False
        )
    )
    assert overlap([(r["start"], r["end"]) for r in results]) == expected


def test_cpu_tasks_stay_on_cpu_workers(roles: dict[str, list[str]]) -> None:
    assert set(flyte.map(where_cpu, range(16), batch_size=1)) <= set(roles["cpu"])


def test_cluster_limit_bounds_gpu_tasks(roles: dict[str, list[str]]) -> None:
    limited = matmul.override(resources=flyte.Resources(gpu=0.25), limit=flyte.ClusterLimit("gpu-suite", 1))
    results = list(
        flyte.map(
            limited, range(6), itertools.repeat(512), itertools.repeat(0.2), batch_size=1, return_exceptions=False
        )
    )
    assert overlap([(r["start"], r["end"]) for r in results]) == 1


def test_cupy_results_between_processes(gpu_client: object) -> None:
    import cupy as cp

    on_driver = make_array(1000)  # this process has a GPU: the array stays a CuPy array
    assert isinstance(on_driver, cp.ndarray) and float(on_driver.sum()) == 499500.0
    assert total(on_driver) == 499500.0  # and travels back to a GPU task as an argument
    from_cpu = flyte.run(cpu_receives_gpu_result, 1000).outputs()[0]
    assert from_cpu == {"module": "numpy", "sum": 499500.0, "gpu_sum": 499500.0}


def test_gpu_telemetry_reports_device_and_peak_memory(gpu_client: object) -> None:
    run = flyte.run(hold_memory, 1024, 0.5)
    assert run.outputs()[0] == 1024 << 18
    (record,) = run.gpu_usage()
    device = probe().devices()[0]
    assert record["gpu_model"] == device.model and record["gpu_uuid"] in {d.uuid for d in probe().devices()}
    assert record["peak_memory_bytes"] >= 1 << 30, record
    assert record["memory_scope"] in {"process", "device"} and record["seconds"] >= 0.5


def test_deploy_scripts_start_a_working_gpu_cluster(tmp_path: Path) -> None:
    """deploy/machines: scheduler, GPU workers (NVML-advertised resources) and CPU workers, as processes."""
    port = 8900 + os.getpid() % 50
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASHBOARD_PORT": str(port + 1)}
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "gpu", "cpu")]
    procs = [
        subprocess.Popen(
            ["bash", str(ROOT / "deploy/machines/start-scheduler.sh"), str(port)],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        procs.append(
            subprocess.Popen(
                ["bash", str(ROOT / "deploy/machines/start-gpu-workers.sh"), address, "2"],
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                ["bash", str(ROOT / "deploy/machines/start-cpu-workers.sh"), address, "1", "2"],
                env=env,
                stdout=logs[2],
                stderr=subprocess.STDOUT,
            )
        )
        script = (
            "import sys, flyte_dask as flyte\n"
            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import test_gpu as t\n"
            f"client = flyte.init({address!r}, timeout=60)\n"
            f"client.wait_for_workers({len(probe().devices()) + 1}, timeout=120)\n"
            "r = t.matmul(5)\n"
            "info = client.scheduler_info()['workers'][r['worker']]\n"
            "assert info['resources'].get('GPU') == 1, info['resources']\n"
            "print('OK', r['device'])\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, cwd=ROOT)
        assert done.returncode == 0 and "OK 0" in done.stdout, done.stderr + "".join(
            (tmp_path / f"{n}.log").read_text() for n in ("scheduler", "gpu", "cpu")
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


@gpu_env.task
def cupy_block(seed: int) -> object:
    """A CuPy array made on a GPU worker."""
    import cupy as cp

    return cp.full((1024, 1024), float(seed), dtype=cp.float32)


@gpu_env.task
def cupy_total(block: object) -> tuple[str, float]:
    """The array's module as it arrived (CuPy: it never went through a host), and its sum."""
    return type(block).__module__.split(".")[0], float(block.sum())  # type: ignore[attr-defined]


def test_gpu_maps_fed_by_gpu_maps_keep_cupy_on_the_gpu(gpu_client: object) -> None:
    out = list(flyte.map(cupy_total, flyte.map(cupy_block, range(8))))
    assert out == [("cupy", float(seed) * 1024 * 1024) for seed in range(8)]
