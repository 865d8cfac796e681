"""`RunSummary`: what a run did, per group and task, read from Dask after the fact.

Dask's spans and task groups give each group's Dask tasks, their states, wall and compute
time; each task call or map batch reports its items, failures and retries as a scheduler
event (``flyte-dask.items``), and GPU tasks their GPU and peak memory
(``flyte-dask-gpu``). Nothing is counted on the driver.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flyte_dask._internal.keys import task_of_prefix


@dataclass
class TaskSummary:
    """One task within one group of a run."""

    group: str
    task: str
    dask_tasks: int = 0
    items: int = 0
    failed: int = 0
    retried: int = 0
    wall_seconds: float = 0.0
    compute_seconds: float = 0.0
    gpus: list[str] = field(default_factory=list)
    peak_gpu_memory_bytes: int = 0

    @property
    def succeeded(self) -> int:
        return self.items - self.failed

    @property
    def items_per_second(self) -> float:
        return self.items / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass
class RunSummary:
    """A run's `TaskSummary` rows, outermost group first; ``str()`` is a table (beyond Flyte 2)."""

    run: str
    rows: list[TaskSummary]
    reports: list[tuple[str, str]] = field(default_factory=list)  #: (task, page) per report a call wrote

    def __str__(self) -> str:
        header = (
            "group",
            "task",
            "items",
            "ok",
            "failed",
            "retried",
            "wall s",
            "compute s",
            "items/s",
            "GPUs",
            "GPU peak MiB",
        )
        lines = [header] + [
            (
                row.group or "(run)",
                row.task,
                str(row.items),
                str(row.succeeded),
                str(row.failed),
                str(row.retried),
                f"{row.wall_seconds:.2f}",
                f"{row.compute_seconds:.2f}",
                f"{row.items_per_second:,.0f}",
                ", ".join(row.gpus) or "-",
                f"{row.peak_gpu_memory_bytes / 2**20:,.0f}" if row.gpus else "-",
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        rendered = [
            "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
            for line in lines
        ]
        pages = [f"report  {task}  {page}" for task, page in self.reports]
        return "\n".join([f"run {self.run}", rendered[0], "-" * len(rendered[0]), *rendered[1:], *pages])


def build(
    run: str,
    groups: list[dict[str, Any]] | None,
    items: list[dict[str, Any]],
    gpu: list[dict[str, Any]],
    reports: list[dict[str, Any]],
) -> RunSummary:
    """Join the scheduler's task groups with the item, GPU and report events of the run's spans."""
    rows: dict[tuple[str, str], TaskSummary] = {}

    def row(group: str, task: str) -> TaskSummary:
        return rows.setdefault((group, task), TaskSummary(group, task))

    starts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for g in groups or []:
        task = task_of_prefix(g["task"])
        if "." not in task:  # Dask's own helpers (flyte_dask repairs, client.submit of plain functions)
            continue
        key = (" / ".join(g["group"][1:]), task)
        summary = row(*key)
        summary.dask_tasks += sum(g["states"].values())
        summary.compute_seconds += g["compute"]
        if g["start"] and g["stop"]:
            starts[key] += [g["start"], g["stop"]]
    for key, times in starts.items():
        rows[key].wall_seconds = max(times) - min(times)
    names = {g["span_id"]: " / ".join(g["group"][1:]) for g in groups or []}
    for record in items:
        group = _group_of(record, names)
        summary = row(group, record["task"])
        summary.items += record["items"]
        summary.failed += record["failed"]
        summary.retried += record["retried"]
    for record in gpu:
        summary = row(_group_of(record, names), record["task"])
        name = f"{record['gpu_model']}:{record['gpu_index']}"
        if name not in summary.gpus:
            summary.gpus.append(name)
        summary.peak_gpu_memory_bytes = max(summary.peak_gpu_memory_bytes, int(record["peak_memory_bytes"]))
    pages = sorted({(record["task"], record["path"]) for record in reports})
    return RunSummary(run, sorted(rows.values(), key=lambda r: (r.group.count("/"), r.group, r.task)), pages)


def _group_of(record: dict[str, Any], names: dict[str, str]) -> str:
    """The group (its path below the run) an event's Dask task ran in: its innermost span."""
    ids = record.get("span_ids") or []
    return names.get(ids[-1], "") if ids else ""
