"""The report of the task call running here (``@env.task(report=True)``): where its page goes, and writing it.

Each call of a reporting task gets a fresh report in a context variable (so concurrent
async calls on one worker keep theirs apart). Its page is
``<raw-data-path>/reports/<run>/<Dask key>.html``; the first write logs a
`events.ReportRecord`, which is how `Run.summary` finds the pages of a run.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flyte_dask._internal import events, storage
from flyte_dask._internal.keys import key_name


@dataclass
class _Page:
    """One call's report and where it is written."""

    report: Any  #: the call's `flyte_dask.report.Report`
    task: str  #: the task's name
    key: str  #: the Dask key of the call, as text
    path: str  #: where the page is written
    announced: bool = False  #: a `events.ReportRecord` was logged for it (at its first write)


_page: contextvars.ContextVar[_Page | None] = contextvars.ContextVar("flyte_dask_report_page", default=None)


def current() -> Any:
    """The running call's report, or None outside a ``report=True`` task call."""
    page = _page.get()
    return page.report if page is not None else None


def page_name(task: str, key: Any) -> str:
    """A call's report name: its Dask key as text (the task's name outside Dask)."""
    return key_name(key) if key is not None else task


@contextlib.contextmanager
def report_scope(report: Any, task: str, key: Any, run: str | None) -> Iterator[None]:
    """Make ``report`` (a `flyte_dask.report.Report`) the report of one call of ``task`` (Dask key ``key``, in
    run ``run``); write its page at the end if it has content."""
    name = page_name(task, key)
    page = _Page(report, task, name, f"{storage.raw_data_path()}/reports/{run or 'calls'}/{name}.html")
    token = _page.set(page)
    try:
        yield
    finally:
        if page.report.has_content():
            _write(page, page.report.get_final_report)
        _page.reset(token)


def flush(render: Callable[[], str]) -> None:
    """Write the running call's page from ``render()`` now; nothing outside a ``report=True`` call."""
    page = _page.get()
    if page is not None:
        _write(page, render)


def _write(page: _Page, render: Callable[[], str]) -> None:
    with storage.open_file(page.path, "w", encoding="utf-8") as f:
        f.write(render())
    if not page.announced:
        page.announced = True
        _announce(page)


def _announce(page: _Page) -> None:
    """Log the page's `events.ReportRecord` from the worker running the call (none in local mode)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        return
    events.log(worker, events.ReportRecord(page.key, page.task, page.path, events.current_span_ids()))
