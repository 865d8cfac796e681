"""Per-call environment variables on shared Dask workers (``TaskEnvironment(env_vars=...)``).

A Dask worker process runs many calls at once, in threads and on its task loop, so
writing ``os.environ`` for one call would leak into the others. Instead ``os.environ``
becomes a view that adds the running call's variables (held in a context variable,
which each thread and each asyncio task has its own copy of) on top of the process's
own. ``os.environ[...]``, ``os.getenv`` and ``os.environ.copy()`` see them; writes go
to the process, as before. A subprocess sees them when given ``env=os.environ.copy()``.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import MappingProxyType

_overlay: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "flyte_dask_env_vars", default=MappingProxyType({})
)
_install_lock = threading.Lock()


class CallEnviron(MutableMapping[str, str]):
    """``os.environ`` as the running call sees it: its own variables over the process's."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    def __getitem__(self, name: str) -> str:
        overlay = _overlay.get()
        return overlay[name] if name in overlay else self.process[name]

    def __setitem__(self, name: str, value: str) -> None:
        self.process[name] = value

    def __delitem__(self, name: str) -> None:
        del self.process[name]

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay.get()
        yield from overlay
        yield from (name for name in self.process if name not in overlay)

    def __len__(self) -> int:
        overlay = _overlay.get()
        return len(overlay) + sum(1 for name in self.process if name not in overlay)

    def __contains__(self, name: object) -> bool:
        return name in _overlay.get() or name in self.process

    def copy(self) -> dict[str, str]:
        """A plain dict of what this call sees (pass it as a subprocess's ``env``)."""
        return {**self.process, **_overlay.get()}

    def __repr__(self) -> str:
        return f"CallEnviron({self.copy()!r})"


def _install() -> None:
    """Make ``os.environ`` a `CallEnviron` in this process, once."""
    with _install_lock:
        if not isinstance(os.environ, CallEnviron):
            os.environ = CallEnviron(os.environ)  # type: ignore[assignment]  # noqa: B003 -- a view that adds per-call variables


@contextmanager
def call_env(variables: Mapping[str, str]) -> Iterator[None]:
    """Inside: ``os.environ`` shows ``variables`` to this call (thread or asyncio task) only."""
    if not variables:
        yield
        return
    _install()
    token = _overlay.set({**_overlay.get(), **variables})
    try:
        yield
    finally:
        _overlay.reset(token)
