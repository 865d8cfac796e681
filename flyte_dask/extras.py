"""Flyte 2's ``flyte.extras``: `Sleep`, which runs without Flyte's platform; its other names import and raise
`errors.NotOnDaskError` on use.

`Sleep` is accepted as a `TaskEnvironment` ``plugin_config``: on Flyte's backend it moves a
task to a pod-less sleep plugin; locally (in Flyte's local runner and here) the task's
own Python body runs, so it needs nothing on Dask and does not warn.
"""

from __future__ import annotations

from dataclasses import dataclass

from flyte_dask._absent import absent_names


@dataclass
class Sleep:
    """Flyte's ``core-sleep`` plugin config; the task body runs as written (see the module)."""


_absent_all, __getattr__ = absent_names(
    "flyte.extras",
    (
        "BatchStats", "ContainerTask", "CostEstimator", "DynamicBatcher", "Prompt", "SleepTask", "TokenBatcher",
        "TokenEstimator", "model_streamer", "serialize", "serialize_env", "shell", "webhooks",
    ),
    "these serve Flyte's platform (container images, reusable environments, webhooks, task specs); on Dask, "
    "write the step as a task (subprocess.run for a command-line tool) and batch items with "
    "flyte.map(..., batch_size=N)",
)  # fmt: skip


__all__ = ["Sleep", *_absent_all]
