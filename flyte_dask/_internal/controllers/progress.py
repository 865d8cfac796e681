"""Progress bars for fan-outs, drawn by tqdm (``tqdm.auto`` serves terminals and Jupyter).

A map, and a gather of many calls, shows items done, failed, the total when known and
the rate, on the driver only. Bars nest: one opened while another is open (a map inside
a group inside a map's consumer) is drawn below it, named after its group. On by default
when stderr is a terminal or in Jupyter, off otherwise; the ``flyte-dask.progress`` Dask
config key or the ``FLYTE_DASK_PROGRESS`` environment variable (``1``/``0``/``auto``)
switches them. A bar appears only once its work has lasted ``flyte-dask.progress-delay``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from dask.utils import parse_timedelta

from flyte_dask._internal import events, settings
from flyte_dask._internal.context import current_worker_task, groups_of
from flyte_dask._internal.keys import task_of
from flyte_dask._runcontext import run_of

ENV = settings.PROGRESS_ENV

_lock = threading.Lock()
_open = 0  # bars open in this process: the next one is drawn below them


def enabled() -> bool:
    """Whether bars are drawn here (never on a worker, whose stderr is a log)."""
    if current_worker_task() is not None:
        return False
    setting: Any = os.environ.get(ENV)
    if setting is None:
        setting = settings.get("progress")
    setting = str(setting).strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off", "none"):
        return False
    return _in_jupyter() or sys.stderr.isatty()


def _in_jupyter() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """One bar: items done (failures counted apart) out of ``total`` (None: unknown, count and rate)."""

    spent = 0.0
    """Seconds every bar of this process has spent drawing and counting (what `benchmarks/progress.py` reports)."""

    def __init__(self, name: str, total: int | None) -> None:
        global _open
        start = time.perf_counter()
        from tqdm.auto import tqdm

        with _lock:
            position = _open
            _open += 1
        self.failed = 0
        self.bar = tqdm(
            total=total or None,
            desc=name,
            unit="item",
            position=position,
            leave=position == 0,
            delay=parse_timedelta(settings.get("progress-delay")),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        Progress.spent += time.perf_counter() - start

    def update(self, done: int, failed: int) -> None:
        """Count ``done`` more items, ``failed`` of them failed."""
        start = time.perf_counter()
        if failed:
            self.failed += failed
            self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.update(done)
        Progress.spent += time.perf_counter() - start

    def set_total(self, total: int | None) -> None:
        """Change the total (None: unknown), as more work joins the bar."""
        self.bar.total = total or None
        self.bar.refresh()

    def close(self) -> None:
        global _open
        start = time.perf_counter()
        if time.time() - self.bar.start_t >= self.bar.delay:  # a bar shown draws its final counts, however recent
            self.bar.refresh()
        self.bar.close()
        with _lock:
            _open -= 1
        Progress.spent += time.perf_counter() - start


def progress(name: str, total: int | None, groups: tuple[str, ...] = ()) -> Progress | None:
    """A bar for a fan-out of task ``name`` inside ``groups``, or None where bars are off."""
    if not enabled():
        return None
    return Progress(" / ".join((*groups, name)), total)


def gather_progress(name: str, calls: int, groups: tuple[str, ...]) -> Progress | None:
    """A bar for gathered calls, when there are enough of them to be worth one."""
    return progress(name, calls, groups) if calls >= int(settings.get("progress-min-calls")) else None


def announce_map(task: str, total: int | None, annotations: dict[str, Any]) -> None:
    """Tell the run's progress (on the driver) about a map started here, on a worker inside a `flyte.run`.

    Its bar reads ``<calling task> / <groups> / <mapped task>``, with the map's total when
    known; its batches report their items under the map's own span (`events.MapRecord`).
    """
    state = current_worker_task()
    if state is None or not run_of(annotations):
        return
    span_ids = list(annotations.get("span", {}).get("ids", ()))
    between = groups_of(annotations)[1:-1]  # below the run's span, above the map's own
    label = " / ".join((task_of(state.key), *between, task))
    events.log(state.worker, events.MapRecord(span_ids[-1], label, total, span_ids))
