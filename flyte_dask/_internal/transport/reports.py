"""What the scheduler can tell about a cluster and a run: worker tables, spans, event logs, the dashboard."""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

from distributed import Client

from flyte_dask._internal.nvml import probe
from flyte_dask._internal.transport.health import scheduler_address


def cluster_report(client: Client) -> dict[str, Any]:
    """The raw facts `cluster_status` reads: the scheduler's worker table, GPUs in use per worker
    (the scheduler's bookkeeping), GPUs each worker's NVML sees, and package versions everywhere."""
    try:
        seen = client.run(_gpus_seen)
    except Exception:  # workers that cannot import flyte_dask cannot say
        seen = {}
    return {
        "address": scheduler_address(client),
        "workers": client.scheduler_info(n_workers=-1).get("workers", {}),
        "gpus_in_use": client.run_on_scheduler(_gpus_in_use),
        "gpus_seen": seen,
        "versions": client.get_versions(check=False, packages=["flyte-dask"]),
    }


def _gpus_in_use(dask_scheduler: Any) -> dict[str, float]:
    return {address: ws.used_resources.get("GPU", 0) for address, ws in dask_scheduler.workers.items()}


def _gpus_seen() -> int:
    return len(probe().devices())


def performance_report(client: Client, filename: str) -> Any:
    """Dask's performance report of what runs inside the block (task stream, worker profile,
    bandwidth), saved as HTML to ``filename``. Needs bokeh (``flyte-dask[dashboard]``)."""
    if importlib.util.find_spec("bokeh") is None:
        raise RuntimeError(
            f"cannot write the report {filename}: Dask's reports need bokeh; pip install 'flyte-dask[dashboard]'"
        )
    from distributed import performance_report as dask_report

    stack = contextlib.ExitStack()
    stack.enter_context(client.as_current())  # the report finds its client as Dask's current one
    stack.enter_context(dask_report(filename=filename))
    return stack


def span_report(client: Client, span_id: str) -> list[dict[str, Any]] | None:
    """Per task group in the span tree under ``span_id``, as the scheduler's spans extension
    has it: its group (span) names, task prefix, Dask task states, first start, last stop
    and compute seconds. None where the scheduler cannot run flyte_dask's code."""
    try:
        return list(client.run_on_scheduler(_span_report, span_id))
    except Exception:
        return None


def _span_report(span_id: str, dask_scheduler: Any = None) -> list[dict[str, Any]]:
    spans = dask_scheduler.extensions.get("spans")
    root = spans.spans.get(span_id) if spans is not None else None
    if root is None:
        return []
    return [
        {
            "span_id": span.id,
            "group": list(span.name),
            "task": group.prefix.name,
            "states": {state: count for state, count in group.states.items() if count},
            "start": group.start,
            "stop": group.stop,
            "compute": group.duration,
        }
        for span in root.traverse_spans()
        for group in span.groups
    ]


def events(client: Client, topic: str) -> list[tuple[float, Any]]:
    """The scheduler's event log for ``topic`` (the latest records it keeps)."""
    return list(client.get_events(topic))


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's URL, when the cluster serves one."""
    try:
        return client.dashboard_link if client.scheduler_info().get("services", {}).get("dashboard") else None
    except Exception:
        return None
