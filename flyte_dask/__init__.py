"""flyte_dask: Flyte 2 style tasks, `map` and async fan-out, run as Dask futures.

``import flyte_dask as flyte`` and Flyte 2 code runs on a Dask cluster: each task call
is a Dask future tagged with the task's resources.
"""

import importlib
import logging

from flyte_dask import errors
from flyte_dask._absent import Absent, declaration
from flyte_dask._alias import install_as_flyte
from flyte_dask._config import init, init_from_config
from flyte_dask._deployment import (
    Documentation,
    Image,
    PodTemplate,
    ReusePolicy,
    Secret,
    SecretRequest,
)
from flyte_dask._environment import TaskEnvironment
from flyte_dask._internal.context import group
from flyte_dask._internal.transport import PoolAdaptive, PoolCluster, WorkerPool, shutdown
from flyte_dask._limits import ClusterLimit
from flyte_dask._map import map
from flyte_dask._options import (
    Backoff,
    Cache,
    CachePolicy,
    CacheRequest,
    RetryStrategy,
    Timeout,
    TimeoutRequest,
    VersionParameters,
)
from flyte_dask._resources import (
    AMD_GPU,
    APPLE_SILICON,
    GPU,
    HABANA_GAUDI,
    TPU,
    Device,
    DeviceClass,
    Neuron,
    Resources,
)
from flyte_dask._run import Run, RunOutputs, run, with_runcontext
from flyte_dask._runcontext import TaskContext, ctx, custom_context, get_custom_context
from flyte_dask._status import ClusterStatus, WorkerStatus, cluster_status
from flyte_dask._task import TaskTemplate
from flyte_dask._trace import trace
from flyte_dask._triggers import (
    Cron,
    FixedRate,
    OnArtifact,
    Trigger,
    TriggeredArtifact,
    TriggeredPartition,
    TriggerTime,
)
from flyte_dask.errors import UnsatisfiableResourcesError

__version__ = "0.1.0"

AsyncFunctionTaskTemplate = TaskTemplate
"""Flyte 2's name for the class of ``@env.task`` functions; here one class serves sync and async tasks."""

TimeoutType = TimeoutRequest
"""What ``timeout=`` takes: seconds, a `datetime.timedelta` or a `Timeout` (Flyte 2's name)."""

logger = logging.getLogger("flyte_dask.user")
"""A logger for task code (Flyte 2's ``flyte.logger``); on a worker its records go to Dask's worker log."""


_DECLARED = ("Link",)
"""Flyte 2.12 declarations its local runner accepts and ignores: made here, inert (`_absent.Declared`)."""

_PLATFORM = {
    "Environment": "TaskEnvironment is the environment here",
    "AppHandle": "Flyte apps and serving: Dask runs batch work",
    "serve": "Flyte apps and serving: Dask runs batch work",
    "with_servecontext": "Flyte apps and serving: Dask runs batch work",
    "build": "nothing is built: workers run in the environment they were started in",
    "build_images": "nothing is built: workers run in the environment they were started in",
    "ImageBuild": "nothing is built: workers run in the environment they were started in",
    "Checkpoint": "return results, or use cache='auto' (a rerun skips finished items)",
    "BaseCheckpoint": "return results, or use cache='auto' (a rerun skips finished items)",
    "latest_checkpoint": "return results, or use cache='auto' (a rerun skips finished items)",
    "ConditionWebhook": "Flyte's human-in-the-loop conditions need its backend",
    "new_condition": "Flyte's human-in-the-loop conditions need its backend",
    "init_from_api_key": "flyte.init(address) connects to a Dask scheduler",
    "init_in_cluster": "flyte.init(address) connects to a Dask scheduler",
    "init_passthrough": "flyte.init(address) connects to a Dask scheduler",
    "load_interactive_ctx": "flyte.init(address) connects to a Dask scheduler",
    "load_plugin_config": "flyte.init(address) connects to a Dask scheduler",
    "rerun": "run the task again with flyte.run; with cache='auto' finished calls are skipped",
    "run_python_script": "python -m flyte_dask script.py runs a script on Dask",
}
"""Flyte 2.12's top-level names of its platform: they import, and using one says what to use instead."""


def is_control_plane_available() -> bool:
    """Whether a Flyte control plane is reachable (Flyte 2's): never, on Dask."""
    return False


def current_project() -> str | None:
    """The Flyte project of the run (Flyte 2's): there is none on Dask."""
    return None


def current_domain() -> str | None:
    """The Flyte domain of the run (Flyte 2's): there is none on Dask."""
    return None


system_logger = logging.getLogger("flyte_dask")
"""Flyte 2's ``flyte.system_logger``: flyte_dask's own logger."""


def __getattr__(name: str) -> object:
    """Flyte 2.12's platform names (`_PLATFORM`) and inert declarations (`_DECLARED`): importing one works."""
    if name in _DECLARED:
        return declaration(f"flyte.{name}")
    if name in _PLATFORM:
        return Absent(f"flyte.{name}", _PLATFORM[name])
    if name == "deploy":  # Flyte's deploy(env) function; here the module of batch-system pools, which refuses a call
        return importlib.import_module("flyte_dask.deploy")
    raise AttributeError(f"module 'flyte_dask' has no attribute {name!r}")


def version() -> str:
    """flyte_dask's version (Flyte 2's ``flyte.version()``)."""
    return __version__


__all__ = [
    "AsyncFunctionTaskTemplate",
    "Backoff",
    "Cache",
    "CachePolicy",
    "CacheRequest",
    "ClusterLimit",
    "ClusterStatus",
    "Device",
    "DeviceClass",
    "Documentation",
    "GPU",
    "TPU",
    "Neuron",
    "AMD_GPU",
    "HABANA_GAUDI",
    "APPLE_SILICON",
    "Image",
    "PodTemplate",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Run",
    "RunOutputs",
    "Secret",
    "SecretRequest",
    "TaskContext",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "VersionParameters",
    "TimeoutType",
    "UnsatisfiableResourcesError",
    "WorkerStatus",
    "__version__",
    "cluster_status",
    "ctx",
    "custom_context",
    "errors",
    "get_custom_context",
    "group",
    "init",
    "init_from_config",
    "install_as_flyte",
    "is_control_plane_available",
    "current_project",
    "current_domain",
    "system_logger",
    "logger",
    "map",
    "run",
    "shutdown",
    "PoolAdaptive",
    "PoolCluster",
    "WorkerPool",
    "trace",
    "version",
    "with_runcontext",
    "Trigger",
    "Cron",
    "FixedRate",
    "OnArtifact",
    "TriggerTime",
    "TriggeredArtifact",
    "TriggeredPartition",
]
