"""`flyte_dask.deploy.slurm_pools` against a real SLURM: Debian's slurm-wlm, one node on this machine, two fake GPUs
declared as GRES (`deploy/slurm-dev/start.sh`). Skipped, with the reason, where SLURM is neither running nor
startable (not root, no slurm-wlm)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import flyte_dask as flyte
from flyte_dask.deploy import slurm_pools

from .conftest import eventually

ROOT = Path(__file__).resolve().parents[1]
SLURM_DEV = ROOT / "deploy" / "slurm-dev"
env = flyte.TaskEnvironment(name="slurm")
gpu_env = flyte.TaskEnvironment(name="slurm_gpu", resources=flyte.Resources(gpu=1))


def _answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20, check=False)
    return done.returncode == 0 and any(s in done.stdout for s in ("idle", "mixed", "allocated"))


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A SLURM that answers: the one running here, or a one-node SLURM this module starts and stops."""
    if _answers():
        yield
        return
    if shutil.which("slurmctld") is None or os.geteuid() != 0:
        pytest.skip("no SLURM here: needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([SLURM_DEV / "start.sh", str(state)], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        pytest.skip(f"SLURM did not start: {started.stdout[-500:]} {started.stderr[-500:]}")
    try:
        yield
    finally:
        subprocess.run([SLURM_DEV / "stop.sh", str(state)], timeout=60, check=False)


def _jobs() -> list[str]:
    done = subprocess.run(["squeue", "-h", "-o", "%i %P %T %j"], capture_output=True, text=True, timeout=20)
    return [line for line in done.stdout.splitlines() if line.strip()]


@env.task
def where(i: int) -> tuple[int, str, str]:
    return i, os.environ.get("SLURM_JOB_ID", ""), os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


@gpu_env.task
def where_gpu(i: int) -> tuple[int, str, str]:
    return i, os.environ.get("SLURM_JOB_ID", ""), os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def test_cpu_and_gpu_maps_run_on_their_pools_jobs_and_the_pools_return_to_zero(
    slurm: None, no_session: None, tmp_path: Path
) -> None:
    job = {"cores": 2, "memory": "2GB", "walltime": "00:20:00", "log_directory": str(tmp_path / "logs")}
    cluster = slurm_pools(
        cpu={**job, "queue": "cpu"}, gpu={**job, "queue": "gpu"}, host="127.0.0.1", dashboard_address=None
    )
    try:
        cluster.adapt(pool="cpu", minimum=0, maximum=2, interval="500ms", wait_count=2)
        cluster.adapt(pool="gpu", minimum=0, maximum=2, interval="500ms", wait_count=2)
        flyte.init(cluster)
        start = time.monotonic()
        cpu = list(flyte.map(where, range(40)))
        cpu_seconds = time.monotonic() - start
        assert [i for i, _, _ in cpu] == list(range(40))
        assert all(job_id for _, job_id, _ in cpu)  # every item ran inside a SLURM job
        assert {visible for _, _, visible in cpu} == {""}  # CPU jobs see no GPU
        start = time.monotonic()
        gpu = list(flyte.map(where_gpu, range(20)))
        gpu_seconds = time.monotonic() - start
        assert [i for i, _, _ in gpu] == list(range(20))
        cpu_jobs, gpu_jobs = {j for _, j, _ in cpu}, {j for _, j, _ in gpu}
        assert gpu_jobs.isdisjoint(cpu_jobs)  # GPU items ran on the GPU pool's jobs only
        assert {visible for _, _, visible in gpu} <= {"0", "1"}  # SLURM gave each GPU job one of the two GPUs
        print(f"first map (CPU pool from zero): {cpu_seconds:.1f}s; GPU pool from zero: {gpu_seconds:.1f}s")
        start = time.monotonic()
        assert eventually(lambda: not _jobs(), timeout=60), _jobs()  # both pools back to zero, no job left
        print(f"scale-down to zero jobs: {time.monotonic() - start:.1f}s")
    finally:
        flyte.shutdown()
        cluster.close()
    assert eventually(lambda: not _jobs(), timeout=30), _jobs()


def test_walltime_and_account_reach_the_job_script(slurm: None, tmp_path: Path) -> None:
    cluster = slurm_pools(
        cpu={"queue": "cpu", "cores": 2, "memory": "2GB", "walltime": "01:30:00", "account": "ml-team"},
        gpu=None,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        spec = cluster.pools["cpu"].spec("127.0.0.1")
        script = spec["cls"](cluster.scheduler.address, name="cpu-1", **spec["options"]).job_script()
    finally:
        cluster.close()
    assert "#SBATCH -t 01:30:00" in script and "#SBATCH -A ml-team" in script
    assert "gpu" not in cluster.pools


@pytest.mark.parametrize(
    ("cpu", "words"),
    [
        ({"queue": "nosuch"}, "sbatch refused the job: "),  # sbatch exits non-zero: an unknown partition
        ({"queue": "small", "cores": 8}, "PENDING (PartitionConfig)"),  # more cores than partition 'small' allows
    ],
    ids=["refused", "pending-forever"],
)
def test_a_pool_whose_jobs_cannot_start_fails_the_map_clearly(
    slurm: None, no_session: None, tmp_path: Path, cpu: dict[str, object], words: str
) -> None:
    job = {"cores": 2, "memory": "2GB", "walltime": "00:10:00", "log_directory": str(tmp_path / "logs")}
    cluster = slurm_pools(cpu={**job, **cpu}, gpu=None, host="127.0.0.1", dashboard_address=None)
    try:
        cluster.adapt(pool="cpu", minimum=0, maximum=2, interval="500ms")
        flyte.init(cluster)
        start = time.monotonic()
        with pytest.raises(flyte.UnsatisfiableResourcesError) as caught:
            list(flyte.map(where, range(10)))
        took = time.monotonic() - start
        print(f"{words.split(':')[0]}: the map failed after {took:.1f}s")
    finally:
        flyte.shutdown()
        cluster.close()
    message = str(caught.value)
    assert "pool 'cpu'" in message and words in message, message
    assert took < 30, took  # the scheduler check's interval (5 s) and squeue's poll, not the 10 min grow-timeout
    assert eventually(lambda: not _jobs(), timeout=30), _jobs()  # the job is left cancelled, not queued
