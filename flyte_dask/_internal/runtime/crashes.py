"""A call that kills its worker process costs that call, not the task that made it.

Task code can end its process: ``os._exit``, a crash in a C extension, the OOM killer.
Dask then runs each task that was executing there again elsewhere, and gives up on one
(``KilledWorker``) after ``distributed.scheduler.allowed-failures`` lost workers. An
orchestrating task waits on the same workers as its children, so a child that crashes
its worker takes its parent along, and the parent's next attempt runs the whole fan-out
again. `CrashPlugin`, on the scheduler, keeps callers out of the blast radius:

- a call lost with its worker runs again on another worker than its caller's;
- a call that was itself lost with its worker, while others were left (a parent whose
  child crashed beside it), sends every call it makes to other workers than its own,
  from their first run.

Both are loose restrictions on the workers able to run the call. Right after a crash the
caller's worker may be the only one left while the nanny restarts the dead one: the call
is then held in Dask's ``no-worker`` state until another worker joins, for at most
`HOLD_SECONDS`, and after that runs anywhere, so a one-worker cluster still runs. The
plugin also records, under `CRASH_TOPIC`, which
calls each dead worker was running (the calls its own tasks had made included, which
Dask forgets first), so a `KilledWorker` can name them. A scheduler without it runs as before.
"""

from __future__ import annotations

from time import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from flyte_dask._internal.keys import is_call_key

CALLER = "flyte-dask-caller"
"""Annotation of a nested call: the address of the worker where its caller runs."""

AVOID = "flyte-dask-avoid"
"""Annotation of a nested call whose caller was lost with a worker before: the caller's worker, to keep off."""

LOST = "flyte-dask-lost"
"""Annotation the scheduler gives a call lost with its worker: how many other workers were left then."""

HOLD_SECONDS = 10.0
"""How long a call waits for a worker other than its caller's to join (a nanny restarts a dead worker in about 1 s)."""

CRASH_TOPIC = "flyte-dask-crash"
"""Scheduler event topic: a worker that died unexpectedly, and the calls it was running (``worker``, ``keys``)."""


def nested_annotations(annotations: dict[str, Any] | None, address: str) -> dict[str, Any]:
    """What the calls made by a call whose Dask task carries ``annotations``, running on worker ``address``, carry."""
    nested = {CALLER: address}
    if annotations and annotations.get(LOST):
        nested[AVOID] = address
    return nested


class CrashPlugin(SchedulerPlugin):
    """Scheduler side: keeps calls off the worker of a caller that a crash could take down (module doc)."""

    name = "flyte-dask-crashes"
    idempotent = True  # every init registers it; the first one stays

    def __init__(self) -> None:
        #: per worker: the calls running there that a client which went away had made (its nested calls, when the
        #: client was that worker's own); kept until the worker leaves, to name them if it died
        self.orphans: dict[str, list[Any]] = {}
        #: calls held in ``no-worker`` until a worker other than their caller's (the value) joins
        self.held: dict[Any, str] = {}

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def add_worker(self, scheduler: Any, worker: str) -> None:
        """A worker joined: the held calls it may run are let go there (Dask then schedules them at once)."""
        for key, caller in list(self.held.items()):
            if worker != caller:
                del self.held[key]
                self._keep_off(key, caller)

    def update_graph(self, scheduler: Any, *, annotations: dict[str, dict[Any, Any]], **kwargs: Any) -> None:
        """Calls whose caller was lost before stay off the caller's worker from their first run."""
        avoid = annotations.get(AVOID)
        if avoid:
            for key, address in avoid.items():
                self._keep_off(key, address)

    def log_event(self, topic: str | Any, msg: Any) -> None:
        """On a client leaving, note the calls it made that still run; on a worker's unexpected death (before Dask
        reschedules what it ran), mark each call lost, keep its next attempt off its caller's worker, and record
        every call that was running there."""
        if topic != "all" or not isinstance(msg, dict):
            return
        if msg.get("action") == "remove-client":
            self._note_orphans(msg["client"])
        elif msg.get("action") == "remove-worker":
            orphans = self.orphans.pop(msg["worker"], [])
            if not msg.get("expected"):
                self._lost(msg["worker"], [key for key in msg.get("processing-tasks", ()) if is_call_key(key)], orphans)

    def _note_orphans(self, client: str) -> None:
        state = self.scheduler.clients.get(client)
        for ts in state.wants_what if state is not None else ():
            if ts.processing_on is not None and is_call_key(ts.key):
                self.orphans.setdefault(ts.processing_on.address, []).append(ts.key)

    def _lost(self, worker: str, keys: list[Any], orphans: list[Any]) -> None:
        left = len(self.scheduler.workers)  # the dead worker is already gone from it
        for key in keys:
            ts = self.scheduler.tasks[key]
            ts.annotations = {**(ts.annotations or {}), LOST: left}
            caller = ts.annotations.get(CALLER)
            if caller:
                self._keep_off(key, caller)
        if keys or orphans:
            self.scheduler.log_event(CRASH_TOPIC, {"worker": worker, "keys": [*keys, *orphans]})

    def _keep_off(self, key: Any, address: str) -> None:
        """Restrict task ``key`` loosely to the live workers other than ``address`` that meet its resources (those
        of its own restriction first), or hold it until one joins (`HOLD_SECONDS`)."""
        ts = self.scheduler.tasks.get(key)
        workers = self.scheduler.workers
        if ts is None or address not in workers:
            return
        need = ts.resource_restrictions or {}
        able = {
            other
            for other, ws in workers.items()
            if other != address and all(ws.resources.get(name, 0) >= amount for name, amount in need.items())
        }
        if able:
            ts.worker_restrictions = (set(ts.worker_restrictions or ()) & able) or able
            ts.loose_restrictions = True
        elif key not in self.held:
            self.held[key] = address
            ts.worker_restrictions, ts.loose_restrictions = {f"flyte-dask-held-off:{address}"}, False
            self.scheduler.loop.call_later(HOLD_SECONDS, self._let_go, key)

    def _let_go(self, key: Any) -> None:
        """No other worker joined in time: the held call runs wherever Dask puts it."""
        if self.held.pop(key, None) is None:
            return
        ts = self.scheduler.tasks.get(key)
        if ts is not None:
            ts.worker_restrictions, ts.loose_restrictions = set(), False
            if ts.state == "no-worker":
                self.scheduler.transitions({key: "processing"}, stimulus_id=f"flyte-dask-let-go-{time()}")
