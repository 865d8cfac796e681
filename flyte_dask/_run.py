"""`run`: start a task on the cluster as a `Run`, Flyte 2's handle to one execution."""

from __future__ import annotations

import threading
import time
import uuid
import typing
from typing import Any

from distributed import Future, span

from . import _client
from ._gpu import TELEMETRY_TOPIC
from ._placement import placement
from ._task import TaskTemplate

_PHASES = {"pending": "RUNNING", "finished": "SUCCEEDED", "error": "FAILED", "cancelled": "ABORTED", "lost": "FAILED"}


class RunOutputs(tuple):  # type: ignore[type-arg]
    """A run's outputs as a tuple (Flyte 2's ``ActionOutputs``): ``outputs()[0]`` is the return value.

    A task annotated to return a fixed-size ``tuple[A, B]`` has one output per element.
    """

    @property
    def named_outputs(self) -> dict[str, Any]:
        """The outputs by Flyte's generated names ``o0``, ``o1``, ..."""
        return {f"o{i}": v for i, v in enumerate(self)}


class Run:
    """One execution of a task on the cluster, started by `run`.

    Like Flyte 2's ``Run``: `outputs` waits and returns the outputs (raising the
    task's own exception if it failed), `wait` and `done` follow it, `url` links to
    the Dask dashboard. Beyond Flyte: `future` is the underlying Dask future and
    `duration` its wall time as seen from here.
    """

    def __init__(self, task: TaskTemplate[Any, Any], name: str, future: Future, url: str | None, span_id: str) -> None:
        self.task = task
        self.future = future
        self.span_id = span_id
        self.name = name
        self.url = url
        self.submitted_at = time.time()
        self.finished_at: float | None = None
        self._finished_event = threading.Event()
        future.add_done_callback(self._finished)

    def _finished(self, _: Future) -> None:
        self.finished_at = time.time()
        self._finished_event.set()

    def __repr__(self) -> str:
        return f"<Run {self.name} {self.phase}>"

    @property
    def phase(self) -> str:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED`` or ``ABORTED``."""
        status = str(self.future.status)
        return _PHASES.get(status, status.upper())

    @property
    def duration(self) -> float | None:
        """Seconds from submission to completion, once done."""
        return None if self.finished_at is None else self.finished_at - self.submitted_at

    def done(self) -> bool:
        """Whether the run has finished, successfully or not."""
        return self.future.done()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run finishes (it does not raise the task's error: see `outputs`)."""
        if not self._finished_event.wait(timeout):
            raise TimeoutError(f"run {self.name} still {self.phase} after {timeout}s")

    def gpu_usage(self) -> list[dict[str, Any]]:
        """Per GPU task of this run (nested ones too): the GPU it ran on and its peak GPU memory.

        One record per Dask task (a map batch is one): ``key``, ``task``, ``items``,
        ``worker``, ``gpu_index``, ``gpu_uuid``, ``gpu_model``, ``peak_memory_bytes``
        (``memory_scope`` says whether that is the worker process's use or, where NVML
        cannot see the process, the whole device's), ``seconds``. Read from the Dask
        scheduler's event log, which keeps the latest records per topic. Beyond Flyte 2.
        """
        records = _client.events(self.future.client, TELEMETRY_TOPIC)
        return [record for _, record in records if self.span_id in record.get("span_ids", ())]

    def outputs(self) -> RunOutputs:
        """Wait for the run and return its outputs; a failed run raises the task's exception."""
        return _as_outputs(self.task, _client.wait(self.future.client, self.future))


def _as_outputs(task: TaskTemplate[Any, Any], value: Any) -> RunOutputs:
    returns = task._hints.get("return")
    args = typing.get_args(returns)
    if typing.get_origin(returns) is tuple and args and args[-1] is not Ellipsis and isinstance(value, tuple):
        return RunOutputs(value)
    return RunOutputs((value,))


class _Runner:
    """``flyte_dask.run(task, *args, **kwargs)``, and ``await flyte_dask.run.aio(...)``."""

    def __call__(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """Submit ``task`` with these inputs to the cluster (starting one if `init` was not called)."""
        if not isinstance(task, TaskTemplate):
            raise TypeError(f"run() takes a task defined with @env.task, not {type(task).__name__}")
        task.check_args(args, kwargs)
        client = _client.require_client()
        name = f"{task.name}-{uuid.uuid4().hex}"
        with span(name) as span_id:
            future = _client.submit_call(client, task, args, kwargs, placement(client, task.name, task.dask_resources))
        return Run(task, name, future, _client.dashboard_link(client), span_id)

    async def aio(self, task: TaskTemplate[Any, Any], *args: Any, **kwargs: Any) -> Run:
        """The async form of `run`; await ``run.outputs`` through `Run.future` or `Run.outputs`."""
        return self(task, *args, **kwargs)


run = _Runner()
"""Run a task on the Dask cluster and return its `Run` (Flyte 2's ``flyte.run``)."""
