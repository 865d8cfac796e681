"""`flyte.cluster_status()` and `flyte-dask status` against real schedulers and workers."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, Event, LocalCluster

import flyte_dask as flyte
from flyte_dask._internal.runtime.gpu import can_receive_cuda
from flyte_dask._internal.transport.cluster import add_workers
from flyte_dask._status import _exposure, _problems
from flyte_dask.gpu import ProbePlugin

from .conftest import DaskProcesses
from .test_gpu_scheduling import FakeProbe

ROOT = Path(__file__).resolve().parents[1]
env = flyte.TaskEnvironment(name="status", resources=flyte.Resources(gpu=1))


@env.task
def hold_gpu(event_name: str) -> str:
    """Holds the worker's GPU until the test sets the event."""
    assert Event(event_name).wait(60)
    return "released"


@pytest.fixture(scope="module")
def gpu_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A `dask scheduler`, a worker advertising an H100 and a plain CPU worker."""
    procs = DaskProcesses(tmp_path_factory.mktemp("status-processes"))
    try:
        procs.worker("--nthreads", "2", "--resources", "GPU=1 GPU-H100=1")
        procs.worker("--nthreads", "3")
        procs.wait_for_workers(2)
        yield procs
    finally:
        procs.close()


def test_status_describes_each_worker(gpu_processes: DaskProcesses) -> None:
    status = flyte.cluster_status(gpu_processes.address)
    assert status.reachable and status.address == gpu_processes.address
    gpu = [w for w in status.workers if w.gpus]
    cpu = [w for w in status.workers if not w.gpus]
    assert len(gpu) == 1 and len(cpu) == 1
    assert gpu[0].gpu_models == ["H100"] and gpu[0].threads == 2 and gpu[0].gpus_in_use == 0
    assert cpu[0].threads == 3 and cpu[0].memory_limit > 0
    assert status.versions["distributed"] and status.versions["python"]
    numpy_copies = any("NumPy copies" in problem for problem in status.problems)
    assert numpy_copies == (not can_receive_cuda())
    assert not any("version skew" in problem for problem in status.problems)


def test_status_shows_gpus_in_use(gpu_processes: DaskProcesses) -> None:
    client = flyte.init(gpu_processes.address)
    try:
        event = Event("status-hold-gpu", client=client)
        run = flyte.run(hold_gpu, "status-hold-gpu")
        deadline = time.monotonic() + 30
        while not any(w.gpus_in_use for w in flyte.cluster_status().workers):
            assert time.monotonic() < deadline, "the GPU task never started"
            time.sleep(0.05)
        event.set()
        assert run.outputs()[0] == "released"
    finally:
        flyte.shutdown()


def test_cli_status(gpu_processes: DaskProcesses) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flyte_dask._cli", "status", "--address", gpu_processes.address],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "GPU=1 GPU-H100=1" in done.stdout and "2 workers, 5 threads, 1 GPUs advertised (0 in use)" in done.stdout


def test_unreachable_scheduler_is_named_and_bounded() -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "flyte_dask._cli", "status", "--address", "tcp://127.0.0.1:9", "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1 and "not reachable" in done.stdout and "dask scheduler" in done.stdout
    assert time.monotonic() - start < 60


def test_a_worker_with_gpus_that_advertises_none(no_session: None) -> None:
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        add_workers(cluster, 1, 1)
        with Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(1)
            client.register_plugin(ProbePlugin(FakeProbe(count=2)))
            status = flyte.cluster_status(client)
    (worker,) = status.workers
    assert worker.gpus_seen == 2 and worker.gpus == 0
    assert any(
        f"worker {worker.address} has 2 GPU(s) but advertises no GPU resource" in p and "gpu_preload" in p
        for p in status.problems
    )


def test_version_skew_is_named(gpu_processes: DaskProcesses) -> None:
    with Client(gpu_processes.address, set_as_default=False) as client:
        reported = client.get_versions(check=False)
    address = sorted(reported["workers"])[0]
    reported["workers"][address]["packages"]["distributed"] = "1999.1.0"
    problems = _problems(flyte.cluster_status(gpu_processes.address).workers, reported)
    assert any(p.startswith("version skew in distributed") and f"{address} has 1999.1.0" in p for p in problems)


def test_flyte_dask_itself_is_in_the_version_skew_check(gpu_processes: DaskProcesses) -> None:
    with Client(gpu_processes.address, set_as_default=False) as client:
        reported = client.get_versions(check=False, packages=["flyte-dask"])
    workers = flyte.cluster_status(gpu_processes.address).workers
    assert all(w.versions.get("flyte-dask") == flyte.__version__ for w in workers)  # reported by every worker
    assert not any("skew in flyte-dask" in p for p in _problems(workers, reported))
    address = sorted(reported["workers"])[0]
    reported["workers"][address]["packages"]["flyte-dask"] = "0.0.1"
    problems = _problems(workers, reported)
    assert any(p.startswith("version skew in flyte-dask") and f"{address} has 0.0.1" in p for p in problems)


def test_status_raises_no_exposure_warning_for_a_loopback_scheduler(gpu_processes: DaskProcesses) -> None:
    status = flyte.cluster_status(gpu_processes.address)
    assert status.reachable
    assert not [p for p in status.problems if "without TLS" in p or "writable by other users" in p]


@pytest.mark.parametrize(
    ("address", "warned"),
    [
        ("tcp://10.1.2.3:8786", True),
        ("tcp://scheduler.example:8786", True),
        ("tcp://[::1]:8786", False),
        ("tcp://127.0.0.1:8786", False),
        ("tcp://localhost:8786", False),
        ("tls://10.1.2.3:8786", False),
        ("inproc://10.1.2.3/1/2", False),
    ],
)
def test_status_warns_of_a_scheduler_reachable_without_tls(address: str, warned: bool) -> None:
    problems = _exposure(address)
    assert any("without TLS: anyone who can reach that port can run code" in p for p in problems) is warned


def test_status_warns_of_a_cache_directory_others_can_write(tmp_path: Path) -> None:
    import dask

    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    with dask.config.set({"flyte-dask.cache.path": str(shared)}):
        assert any(
            f"the cache directory {shared} (flyte-dask.cache.path) is writable" in p
            for p in _exposure("tcp://127.0.0.1:1")
        )
        shared.chmod(0o700)
        assert _exposure("tcp://127.0.0.1:1") == []


def test_a_gpu_worker_that_cannot_read_nvml_says_so(tmp_path: Path, no_session: None) -> None:
    from flyte_dask._internal.runtime.gpu import own_gpu_resources

    if own_gpu_resources():
        pytest.skip("NVML reads a GPU here: the worker advertises it, with nothing to warn of")
    procs = DaskProcesses(tmp_path, env={"CUDA_VISIBLE_DEVICES": "0"})  # what SLURM sets in a --gres=gpu:1 job
    try:
        procs.worker("--nthreads", "1", "--preload", "flyte_dask.gpu_preload")
        procs.wait_for_workers(1)
        status = flyte.cluster_status(procs.address)
    finally:
        procs.close()
    log = (tmp_path / "worker-1.log").read_text()
    assert "was given GPUs (CUDA_VISIBLE_DEVICES=0) but NVML reads none" in log and "gpu-cuda12" in log, log[-2000:]
    assert [w.resources for w in status.workers] == [{}]  # status shows it advertising nothing
