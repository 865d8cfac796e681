"""flyte_dask: Flyte 2 style tasks, `map` and async fan-out, run as Dask futures.

``import flyte_dask as flyte`` and Flyte 2 code runs on a Dask cluster: each task call
is a Dask future tagged with the task's resources.
"""

from . import errors
from ._client import init, shutdown
from ._config import init_from_config
from ._context import group
from ._deployment import Image, PodTemplate, ReusePolicy, Secret
from ._environment import TaskEnvironment
from ._limits import ClusterLimit
from ._map import map
from ._options import Backoff, Cache, RetryStrategy, Timeout
from ._placement import UnsatisfiableResourcesError
from ._resources import GPU, Device, Resources
from ._run import Run, RunOutputs, run, with_runcontext
from ._runcontext import TaskContext, ctx, custom_context, get_custom_context
from ._status import ClusterStatus, WorkerStatus, cluster_status
from ._task import TaskTemplate
from ._trace import trace

__version__ = "0.1.0"

__all__ = [
    "GPU",
    "Backoff",
    "Cache",
    "ClusterLimit",
    "ClusterStatus",
    "Device",
    "Image",
    "PodTemplate",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Run",
    "RunOutputs",
    "Secret",
    "TaskContext",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
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
    "map",
    "run",
    "shutdown",
    "trace",
    "with_runcontext",
]
