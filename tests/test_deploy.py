"""The deploy/ recipes, checked without their clusters: each has a CPU pool that sees no GPU and a GPU pool that asks
the platform for a GPU and advertises it with flyte_dask's preload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PRELOAD = ["--preload", "flyte_dask.gpu_preload"]


def _runs(args: list[str], *parts: str) -> bool:
    """Whether ``parts`` appear in ``args`` one after the other."""
    return any(args[i : i + len(parts)] == list(parts) for i in range(len(args)))


def _container(worker: dict[str, Any]) -> dict[str, Any]:
    return worker["spec"]["containers"][0]


def _is_gpu_worker(container: dict[str, Any]) -> bool:
    args = [str(a) for a in container["args"]]
    return _runs(args, *PRELOAD) and container["resources"]["limits"]["nvidia.com/gpu"] in ("1", 1)


def _is_cpu_worker(container: dict[str, Any]) -> bool:
    hidden = {"name": "CUDA_VISIBLE_DEVICES", "value": ""} in (container.get("env") or [])
    return hidden and "flyte_dask.gpu_preload" not in container["args"]


def test_the_dask_kubernetes_manifest_has_an_autoscaled_cpu_pool_and_a_gpu_pool_from_zero() -> None:
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes/daskcluster.yaml").read_text())}
    cluster, gpu, autoscaler = docs["DaskCluster"], docs["DaskWorkerGroup"], docs["DaskAutoscaler"]
    name = cluster["metadata"]["name"]
    assert _is_cpu_worker(_container(cluster["spec"]["worker"]))
    assert gpu["spec"]["cluster"] == autoscaler["spec"]["cluster"] == name
    assert gpu["spec"]["worker"]["replicas"] == 0 and _is_gpu_worker(_container(gpu["spec"]["worker"]))
    assert _runs(_container(gpu["spec"]["worker"])["args"], "dask", "cuda", "worker")
    # The operator names the group's workers <group>-worker-<id>: the prefix flyte_dask.deploy.kube_gpu_pool gives PoolAdaptive.
    assert gpu["metadata"]["name"] == f"{name}-gpu"


def test_kubecluster_specs_advertise_the_gpu_and_hide_it_from_cpu_workers() -> None:
    from flyte_dask.deploy import kube_cluster_spec, kube_gpu_group_spec

    spec = kube_cluster_spec("demo", image="registry.example/flyte-dask:1")
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["name"] == "demo"
    assert _is_cpu_worker(_container(spec["spec"]["worker"]))
    group = kube_gpu_group_spec("registry.example/flyte-dask-gpu:1")
    assert group["replicas"] == 0 and _is_gpu_worker(_container(group))
    assert _runs(_container(group)["args"], "dask", "cuda", "worker")


def test_the_helm_values_add_a_gpu_worker_group() -> None:
    values = yaml.safe_load((DEPLOY / "helm/values-gpu.yaml").read_text())
    assert {"name": "CUDA_VISIBLE_DEVICES", "value": ""} in values["worker"]["env"]
    (gpu,) = values["additional_worker_groups"]
    assert _runs(gpu["extraArgs"], *PRELOAD) and gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["custom_command"] == ["dask", "cuda", "worker"]


def test_jobqueue_pools_start_batch_jobs_that_ask_for_a_gpu_and_advertise_it(tmp_path: Path) -> None:
    import dask_jobqueue  # noqa: F401  (its config defaults load before the test sets some over them)

    from flyte_dask.deploy import pbs_pools, slurm_pools

    jobqueue = {"jobqueue.slurm.cores": 6, "jobqueue.slurm.memory": "12GB", "jobqueue.slurm.walltime": "02:00:00"}
    jobqueue |= {"jobqueue.pbs.cores": 8, "jobqueue.pbs.memory": "16GB"}
    logs = str(tmp_path / "logs")
    gpu_options = {"queue": "gpu", "cores": 8, "account": "ml-team", "log_directory": logs}
    for pools, directive in ((slurm_pools, "#SBATCH --gres=gpu:1"), (pbs_pools, "#PBS -l select=1:ncpus=8:ngpus=1")):
        with dask.config.set(jobqueue):
            cluster = pools(
                cpu={"queue": "cpu", "processes": 2}, gpu=gpu_options, host="127.0.0.1", dashboard_address=None
            )
            try:
                scripts = {}
                for pool in ("cpu", "gpu"):
                    spec = cluster.pools[pool].spec("127.0.0.1")
                    job = spec["cls"](cluster.scheduler.address, name=f"{pool}-1", **spec["options"])
                    scripts[pool] = job.job_script()
                assert cluster.pools["gpu"].resources == {"GPU": 1} and not cluster.pools["cpu"].resources
                assert cluster.pools["gpu"].threads == 8  # the job's cores, one worker process
            finally:
                cluster.close()
        gpu, cpu = scripts["gpu"], scripts["cpu"]
        assert directive in gpu and "--preload flyte_dask.gpu_preload" in gpu and "--name gpu-1" in gpu
        assert cluster.scheduler.address in gpu  # the workers join the pools' one scheduler
        assert "export CUDA_VISIBLE_DEVICES=" in cpu and "gpu_preload" not in cpu and "gres" not in cpu
        assert "ml-team" in gpu and logs in gpu  # options given reach the job script
        if pools is slurm_pools:
            assert cluster.pools["cpu"].threads == 3  # the config's 6 cores over 2 processes
            assert "#SBATCH -t 02:00:00" in cpu and "--mem=12G" in cpu  # the rest from jobqueue.slurm.*
    assert "gpu" not in slurm_pools(cpu={"queue": "cpu"}, host="127.0.0.1", dashboard_address=None).pools
