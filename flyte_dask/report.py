"""Flyte 2's task reports (``flyte.report``): HTML a task writes as it runs, one page per task call.

In a task declared with ``@env.task(report=True)``, ``flyte.report.log(html)`` and
``get_tab(name).log(html)`` add to the call's report; `flush` (and the end of the call)
writes it as one HTML page under ``<raw-data-path>/reports/<run>/``, and `Run.summary`
lists the pages of a run. Outside such a task the calls change a throw-away report, as in
Flyte. ``log``, ``replace`` and ``flush`` are sync, with an ``.aio`` form to await.
"""

from __future__ import annotations

import datetime
import html
import string
from dataclasses import dataclass, field

from flyte_dask._internal import task_reports
from flyte_dask._internal.bridge import Syncified

_MAIN = "main"

_PAGE = string.Template(
    """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>$TITLE</title>
<style>body{font-family:sans-serif;margin:2em} nav li{display:inline;margin-right:1em;cursor:pointer}</style>
</head><body><h1>$TITLE</h1><nav><ul>$NAV</ul></nav>$BODY</body></html>
"""
)


@dataclass
class Tab:
    """One tab of a report: HTML fragments, shown in the order logged."""

    name: str
    content: list[str] = field(default_factory=list, init=False)

    def log(self, content: str) -> None:
        """Add an HTML fragment (not a whole document)."""
        self.content.append(content)

    def replace(self, content: str) -> None:
        """Make ``content`` the tab's only fragment."""
        self.content = [content]

    def get_html(self) -> str:
        return "\n".join(self.content)


@dataclass
class Report:
    """A task call's report: named tabs, ``main`` first (Flyte 2's ``Report``)."""

    name: str
    tabs: dict[str, Tab] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tabs.setdefault(_MAIN, Tab(_MAIN))

    def has_content(self) -> bool:
        return any(tab.content for tab in self.tabs.values())

    def get_tab(self, name: str, create_if_missing: bool = True) -> Tab:
        """The tab ``name``, made when missing unless ``create_if_missing`` is False."""
        if name not in self.tabs:
            if not create_if_missing:
                raise ValueError(f"Tab {name} does not exist.")
            self.tabs[name] = Tab(name)
        return self.tabs[name]

    def get_final_report(self) -> str:
        """The whole report as one HTML page (an empty ``main`` tab left out)."""
        tabs = {n: t.get_html() for n, t in self.tabs.items() if t.content or n != _MAIN}
        nav = "".join(f"<li>{html.escape(n)}</li>" for n in tabs)
        body = "".join(
            f'<section id="{html.escape(n)}"><h2>{html.escape(n)}</h2>{v}</section>' for n, v in tabs.items()
        )
        return _PAGE.substitute(TITLE=html.escape(self.name), NAV=nav, BODY=body)


def current_report() -> Report:
    """This task call's report, or a throw-away one outside a ``report=True`` task."""
    found = task_reports.current()
    return found if isinstance(found, Report) else _DUMMY


_DUMMY = Report("dummy")


def get_tab(name: str, /, create_if_missing: bool = True) -> Tab:
    """The tab ``name`` of this call's report."""
    return current_report().get_tab(name, create_if_missing=create_if_missing)


def _flush() -> None:
    """Write this call's report page now (it is written again at the call's end)."""
    task_reports.flush(current_report().get_final_report)


def _log(content: str, do_flush: bool = False) -> None:
    """Add an HTML fragment to the ``main`` tab; ``do_flush`` writes the page too."""
    get_tab(_MAIN).log(content)
    if do_flush:
        _flush()


def _replace(content: str, do_flush: bool = False) -> None:
    """Make ``content`` the ``main`` tab's only fragment; ``do_flush`` writes the page too."""
    get_tab(_MAIN).replace(content)
    if do_flush:
        _flush()


flush = Syncified(_flush)
log = Syncified(_log)
replace = Syncified(_replace)

_FULL_LIMIT = 20_000
"""The most characters of one value an expanded report row shows."""


def abbreviate(value: object, limit: int = 300) -> str:
    """``value`` as escaped HTML for a report row (Flyte 2.12's helper): past ``limit`` characters, a preview
    that expands in place to the whole value (up to 20,000 characters)."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return html.escape(text)
    full = html.escape(text[:_FULL_LIMIT]) + (
        f"\n... (+{len(text) - _FULL_LIMIT} more)" if len(text) > _FULL_LIMIT else ""
    )
    return (
        f"<details><summary>{html.escape(text[:limit])}... (+{len(text) - limit})</summary>"
        f'<pre style="white-space:pre-wrap">{full}</pre></details>'
    )


def duration_ms(start_iso: object, end_iso: object) -> str:
    """The time between two ISO-8601 timestamps as ``"<n> ms"``, or ``""`` when either is missing or unreadable."""
    try:
        start, end = (datetime.datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in (start_iso, end_iso))
    except ValueError:
        return ""
    return f"{(end - start).total_seconds() * 1000:.0f} ms"


class Timeline:
    """A chronological log in a tab of the running call's report (Flyte 2.12's widget): `heading` and `row`.

    Outside a ``report=True`` task the rows go to a throw-away report, so a timeline never
    breaks the work it follows.
    """

    def __init__(self, tab_name: str = _MAIN) -> None:
        self.tab_name = tab_name

    def heading(self, text: object) -> None:
        get_tab(self.tab_name).log(f"<h3>{html.escape(str(text))}</h3>")

    def row(
        self, *, icon: str = "•", label: object = "", meta: str = "", detail: str = "", error: object = None
    ) -> None:
        """One entry: ``icon``, a bold ``label``, faint ``meta``, then ``detail`` (HTML) and ``error`` (text)."""
        warning = f' <span style="color:#c33">⚠ {abbreviate(error, 200)}</span>' if error else ""
        get_tab(self.tab_name).log(
            f'<div>{icon} <b>{html.escape(str(label))}</b> <span style="opacity:.6">{html.escape(meta)}</span>'
            f"{' — ' + detail if detail else ''}{warning}</div>"
        )


__all__ = [
    "Report",
    "Tab",
    "Timeline",
    "abbreviate",
    "current_report",
    "duration_ms",
    "flush",
    "get_tab",
    "log",
    "replace",
]
