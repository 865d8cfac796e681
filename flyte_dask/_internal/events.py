"""The scheduler events flyte_dask logs: one typed record per kind, topics named ``flyte-dask.<kind>``.

Code inside a worker's Dask task logs them with `log` (Dask's ``Worker.log_event``); the
scheduler keeps the latest records of each topic; `Run` reads them back with `in_span`.
They travel as plain dicts (msgpack), so readers get dicts with these fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import dask


@dataclasses.dataclass(frozen=True)
class ItemsRecord:
    """What one Dask task (a call, or a batch of map items) did; logged inside a `flyte.run` only."""

    TOPIC: ClassVar[str] = "flyte-dask.items"

    key: str  #: the Dask task's key, as text
    task: str  #: the task's name, ``env.function``
    items: int  #: calls it ran: 1, or a batch's items
    failed: int  #: of those, how many ended in an exception (``failed <= items``)
    retried: int  #: of those, how many needed more than one attempt
    parent: bool  #: its calls called tasks themselves (a run's progress counts only the others as items)
    span_ids: list[str]  #: the spans (run, groups) it ran in, outermost first


@dataclasses.dataclass(frozen=True)
class MapRecord:
    """A map started inside a `flyte.run`, on a worker: the run's progress draws a bar for it."""

    TOPIC: ClassVar[str] = "flyte-dask.map"

    span_id: str  #: the map's own group (span); its batches' innermost span
    label: str  #: what its bar says: the calling task, the groups between, the mapped task
    total: int | None  #: its items, when the map knows its length
    span_ids: list[str]  #: the spans (run, groups) it was started in, outermost first, its own last


@dataclasses.dataclass(frozen=True)
class GpuRecord:
    """The GPU one Dask task of a GPU task ran on, and its peak memory there (`Run.gpu_usage`)."""

    TOPIC: ClassVar[str] = "flyte-dask.gpu"

    key: str  #: the Dask task's key, as text
    task: str  #: the task's name
    items: int  #: calls it ran
    worker: str  #: the Dask worker's address
    gpu_index: int  #: NVML's index of the GPU
    gpu_uuid: str  #: NVML's UUID of the GPU
    gpu_model: str  #: the GPU's model (``H100``)
    peak_memory_bytes: int  #: the highest memory use sampled while it ran
    memory_scope: str  #: ``process`` (the worker process's use) or ``device`` (NVML cannot see the process)
    seconds: float  #: its wall time
    span_ids: list[str]  #: the spans (run, groups) it ran in, outermost first


@dataclasses.dataclass(frozen=True)
class TraceRecord:
    """One call of a `flyte.trace` function, inline in the task that made it."""

    TOPIC: ClassVar[str] = "flyte-dask.trace"

    trace: str  #: the traced function's name
    key: str  #: the Dask key of the task it ran in, as text
    span_ids: list[str]  #: the spans it ran in, outermost first
    start: float  #: when it started (epoch seconds)
    seconds: float  #: how long it took
    error: str | None  #: ``Type: message`` when it raised, else None


@dataclasses.dataclass(frozen=True)
class ReleaseRecord:
    """A task that calls tasks gave back its resources on ``worker`` (read by the scheduler plugin)."""

    TOPIC: ClassVar[str] = "flyte-dask.released-resources"

    key: Any  #: the Dask task's key (msgpack delivers a tuple key as a list)
    run_id: int  #: the worker's run id of that task: a rerun is another release
    worker: str  #: the worker's address


@dataclasses.dataclass(frozen=True)
class ReportRecord:
    """A call of a ``report=True`` task wrote its report page (`Run.summary` lists them)."""

    TOPIC: ClassVar[str] = "flyte-dask.report"

    key: str  #: the Dask key of the call, as text
    task: str  #: the task's name
    path: str  #: where the page is: a path or fsspec URL under the raw-data location
    span_ids: list[str]  #: the spans (run, groups) it ran in, outermost first


Record = ItemsRecord | MapRecord | GpuRecord | TraceRecord | ReleaseRecord | ReportRecord


def log(worker: Any, record: Record) -> None:
    """Log ``record`` to the scheduler under its topic, from inside a worker."""
    worker.log_event(record.TOPIC, dataclasses.asdict(record))


def current_span_ids() -> list[str]:
    """The spans (run, groups) the code running here is in, outermost first."""
    return list(dask.get_annotations().get("span", {}).get("ids", ()))


def in_span(records: list[tuple[float, Any]], span_id: str) -> list[dict[str, Any]]:
    """The records of a topic (as `Client.get_events` returns them) logged inside span ``span_id``."""
    return [record for _, record in records if span_id in record.get("span_ids", ())]
