"""flyte_dask: Flyte 2 style tasks, `map` and async fan-out, run as Dask futures.

``import flyte_dask as flyte`` and Flyte 2 code runs on a Dask cluster: each task call
is a Dask future tagged with the task's resources.
"""

from ._client import init, shutdown
from ._context import group
from ._environment import TaskEnvironment
from ._limits import ClusterLimit
from ._map import map
from ._options import Cache, RetryStrategy, Timeout
from ._placement import UnsatisfiableResourcesError
from ._resources import Resources
from ._run import Run, RunOutputs, run
from ._status import ClusterStatus, WorkerStatus, cluster_status
from ._task import TaskTemplate

__version__ = "0.1.0"

__all__ = [
    "Cache",
    "ClusterLimit",
    "ClusterStatus",
    "Resources",
    "RetryStrategy",
    "Run",
    "RunOutputs",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "UnsatisfiableResourcesError",
    "WorkerStatus",
    "__version__",
    "cluster_status",
    "group",
    "init",
    "map",
    "run",
    "shutdown",
]
