"""Every setting of flyte_dask, in one table: each Dask config key with its default and meaning, and
each environment variable.

Keys live under ``flyte-dask`` in Dask's config (``dask.config.set``, a YAML file in
``~/.config/dask/``, or ``DASK_FLYTE_DASK__<KEY>`` variables), so Dask hands them to the
worker processes it starts. Importing this module registers the defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import dask


@dataclass(frozen=True)
class Setting:
    """One config key under ``flyte-dask``."""

    key: str  #: dotted, under ``flyte-dask``: ``map.max-buffered-items``
    default: Any  #: what it is when nobody set it
    meaning: str  #: one line: what it changes


SETTINGS: tuple[Setting, ...] = (
    Setting("map.target-batch-seconds", 0.05, "auto-batching aims for Dask tasks of about this many seconds of work"),
    Setting("map.max-batch-size", 50_000, "the most items one auto-sized batch holds"),
    Setting(
        "map.scheduler-tasks-per-second",
        200,
        "auto-sized batches grow with the cluster so that one map asks the scheduler for about this many tasks a second at most",
    ),
    Setting("map.max-buffered-items", 200_000, "items submitted but not yet taken by the consumer (bounds memory)"),
    Setting(
        "map.max-buffered-bytes",
        "1GiB",
        "bytes of results computed but not yet consumed, and expected from batches computing; in a chain of maps, "
        "also the bytes its batches in flight pass between stages (bounds memory)",
    ),
    Setting(
        "map.chain-batch-bytes",
        "8MiB",
        "in a map fed by a map: the most bytes one batch passes from one stage to the next",
    ),
    Setting("map.batches-per-thread", 4, "auto-sized batches in flight per worker thread when no concurrency is set"),
    Setting("map.tasks-per-thread", 64, "fixed-size batches (batch_size=N) in flight per worker thread"),
    Setting(
        "map.growable-tasks",
        10_000,
        "auto-sized batches in flight on a cluster that can grow, so its adaptive target sees the backlog",
    ),
    Setting("resources-timeout", "30s", "how long a request no worker meets waits for workers before it fails"),
    Setting(
        "elastic",
        "auto",
        "whether the cluster can grow: True, False, or 'auto' (a cluster object's adapt(), else what the driver said)",
    ),
    Setting("grow-timeout", "10min", "on a cluster that can grow: how long a request no worker meets waits for one"),
    Setting("scheduler-check", 5.0, "seconds a wait goes without news before it checks the scheduler is there"),
    Setting("scheduler-timeout", 10.0, "seconds the scheduler has to answer that check before it counts as lost"),
    Setting(
        "max-depth",
        100,
        "how deep task calls may nest (the run's root is 1) before a call fails with a RecursionError: a balanced "
        "tree of 2**100 calls stays far below it, so only a task that calls itself without end reaches it",
    ),
    Setting("worker.max-async-calls", 10_000, "async task calls one worker process runs at once"),
    Setting("cache.path", "~/.cache/flyte-dask", "where cache='auto' results persist: a directory or any fsspec URL"),
    Setting(
        "raw-data-path",
        "~/.cache/flyte-dask/raw",
        "where flyte.io Files, Dirs, DataFrames and reports are written: a directory or any fsspec URL every worker reaches",
    ),
    Setting(
        "local-gpu",
        "ignore",
        "on the embedded cluster when this machine has no GPU: 'ignore' runs GPU tasks on its CPU workers with one "
        "warning per task (as Flyte's local runner runs them), 'refuse' fails them as a real cluster does",
    ),
    Setting("full-tracebacks", False, "show every frame of a task's traceback, not only the user's"),
    Setting("progress", "auto", "progress bars: True, False, or 'auto' (on in terminals and Jupyter)"),
    Setting("progress-delay", "0.5s", "a bar appears only once its work has lasted this long"),
    Setting("progress-min-calls", 64, "a gather shows a bar from this many calls"),
)

ENVIRONMENT: dict[str, str] = {
    "FLYTE_DASK_CONFIG": "the YAML file init_from_config() reads when given none",
    "FLYTE_DASK_PROGRESS": "1, 0 or auto: switches progress bars, over the progress key",
    "FLYTE_DASK_FULL_TRACEBACKS": "1: every traceback frame, as the full-tracebacks key",
    "FLYTE_DASK_IGNORING_GPU_REQUESTS": "set by flyte_dask in the embedded cluster's workers when local-gpu applies",
    "FLYTE_ATTEMPT_NUMBER": "set by flyte_dask, as Flyte's backend sets it, for each attempt of a task with retries: 0, 1, ...",
}
"""The environment variables flyte_dask reads (or sets for task code), beside Dask's own."""

CONFIG_ENV, PROGRESS_ENV, FULL_TRACEBACKS_ENV, IGNORING_GPU_ENV, ATTEMPT_ENV = ENVIRONMENT


def _nested(settings: tuple[Setting, ...]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for setting in settings:
        *parents, leaf = setting.key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = setting.default
    return {"flyte-dask": tree}


dask.config.update_defaults(_nested(SETTINGS))


_ignoring_gpu = [False]  # the driver's word: its session is such an embedded cluster (set by the session)


def ignore_gpu_requests(ignoring: bool) -> None:
    """The driver's session starts (True) or ends running GPU tasks on the embedded cluster's CPU workers."""
    _ignoring_gpu[0] = ignoring


def ignoring_gpu_requests() -> bool:
    """Whether this process runs GPU tasks without their GPU request (`local-gpu`): the driver of an embedded
    cluster with no GPU, or one of its workers."""
    return _ignoring_gpu[0] or os.environ.get(IGNORING_GPU_ENV) == "1"


def get(key: str) -> Any:
    """The value of ``flyte-dask.<key>`` in Dask's config now."""
    return dask.config.get(f"flyte-dask.{key}")
