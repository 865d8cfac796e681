"""The names of Flyte 2's ``flyte.extras`` that run without Flyte's platform.

`Sleep` is accepted as a `TaskEnvironment` ``plugin_config``: on Flyte's backend it moves a
task to a pod-less sleep plugin; locally (in Flyte's local runner and here) the task's
own Python body runs, so it needs nothing on Dask and does not warn.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Sleep:
    """Flyte's ``core-sleep`` plugin config; the task body runs as written (see the module)."""


__all__ = ["Sleep"]
