"""Orchestrators hold nothing while they wait: a task that calls tasks gives back its resources.

Dask keeps a task's resources (``GPU=1``, a fraction of a GPU, any custom resource)
until it returns, even after it secedes from the thread pool (dask/distributed#6565).
A GPU parent that maps GPU children would wait forever for the GPU it holds. So at its
first nested call a task releases its resources:

- on the worker, through an event of our own handled by Dask's worker state machine
  (registered on `WorkerState._handle_event`, the state machine's own extension point):
  the resources return to the worker's pool and waiting tasks start at once;
- on the scheduler, through an event the worker logs (a message every scheduler
  accepts) that `ResourceReleasePlugin` acts on, so the scheduler's ``used_resources``
  agree with the worker's. A scheduler without the plugin only stores the event.

The task never takes them back: what it does after its children is orchestration.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import time
from typing import Any

from distributed import Worker
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.worker_state_machine import RecsInstrs, StateMachineEvent, WorkerState

from flyte_dask._internal import events
from flyte_dask._internal.keys import as_key

"""The scheduler event topic under which workers report resources given back."""


@dataclass
class ReleaseResourcesEvent(StateMachineEvent):
    """Stimulus: the running task ``key`` gives its resources back to the worker."""

    __slots__ = ("key",)
    key: Any


@WorkerState._handle_event.register(ReleaseResourcesEvent)  # type: ignore[attr-defined]
def _handle_release_resources(self: WorkerState, ev: ReleaseResourcesEvent) -> RecsInstrs:
    ts = self.tasks.get(ev.key)
    if ts is None or not ts.resource_restrictions or ts.state not in ("executing", "long-running"):
        return {}, []
    self._release_resources(ts)
    ts.resource_restrictions = {}  # nothing left to release when it finishes
    return self._ensure_computing()


def release_resources(worker: Worker, key: Any) -> None:
    """From any thread: have ``worker`` give back the resources of its running task ``key``."""
    worker.loop.add_callback(_release, worker, key)


def _release(worker: Worker, key: Any) -> None:
    ts = worker.state.tasks.get(key)
    if ts is None or not ts.resource_restrictions or ts.state not in ("executing", "long-running"):
        return
    run_id = ts.run_id
    worker.handle_stimulus(ReleaseResourcesEvent(key=key, stimulus_id=f"flyte-dask-orchestrate-{time()}"))
    events.log(worker, events.ReleaseRecord(key, run_id, worker.address))


class ResourceReleasePlugin(SchedulerPlugin):
    """Scheduler side of `release_resources`: keeps ``WorkerState.used_resources`` true.

    The scheduler subtracts a task's resources again when it leaves ``processing``;
    for a task that already gave them back, `transition` adds that second subtraction back.
    """

    name = "flyte-dask-resource-release"
    idempotent = True  # every init registers it; the first one stays, with what it tracks

    def __init__(self) -> None:
        self.released: dict[Any, tuple[str, dict[str, float]]] = {}

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == events.ReleaseRecord.TOPIC:
            self.handle_released(as_key(msg["key"]), msg["run_id"], msg["worker"])

    def handle_released(self, key: Any, run_id: int, worker: str) -> None:
        ts = self.scheduler.tasks.get(key)
        ws = self.scheduler.workers.get(worker)
        if ts is None or ws is None or ts.processing_on is not ws or ts.run_id != run_id or key in self.released:
            return
        self.scheduler.release_resources(ts, ws)
        self.released[key] = (worker, dict(ts.resource_restrictions or {}))

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start != "processing" or key not in self.released:
            return
        address, amounts = self.released.pop(key)
        ws = self.scheduler.workers.get(address)
        if ws is not None:
            for resource, amount in amounts.items():
                ws.used_resources[resource] += amount
