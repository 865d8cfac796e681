"""flyte_dask: Flyte 2 style tasks, `map` and async fan-out, run as Dask futures.

``import flyte_dask as flyte`` and Flyte 2 code runs on a Dask cluster: each task call
is a Dask future tagged with the task's resources.
"""

import logging

from flyte_dask import errors
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
from flyte_dask._resources import GPU, Device, DeviceClass, Resources
from flyte_dask._run import Run, RunOutputs, run, with_runcontext
from flyte_dask._runcontext import TaskContext, ctx, custom_context, get_custom_context
from flyte_dask._status import ClusterStatus, WorkerStatus, cluster_status
from flyte_dask._task import TaskTemplate
from flyte_dask._trace import trace
from flyte_dask.errors import UnsatisfiableResourcesError

__version__ = "0.1.0"

AsyncFunctionTaskTemplate = TaskTemplate
"""Flyte 2's name for the class of ``@env.task`` functions; here one class serves sync and async tasks."""

TimeoutType = TimeoutRequest
"""What ``timeout=`` takes: seconds, a `datetime.timedelta` or a `Timeout` (Flyte 2's name)."""

logger = logging.getLogger("flyte_dask.user")
"""A logger for task code (Flyte 2's ``flyte.logger``); on a worker its records go to Dask's worker log."""


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
]
