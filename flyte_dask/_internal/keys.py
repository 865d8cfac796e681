"""Dask keys of flyte_dask's task calls, the one home of their format.

A call's (or a batch's) key is ``("<env>.<task>-<group token>", "<unique hex>")``: Dask's
task prefix, and so the dashboard's name for it, is ``<env>.<task>``, and the group token
(`context.group_token`) gives each group's calls a TaskGroup of their own. A cached call's
key is ``("<env>.<task>-cached", <cache token>)``, the same for the same inputs.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import uuid
from typing import Any

CACHED = "cached"
"""The group-token place of a cached call's key."""

KEY_PATTERN = r"[\w-]+\.[\w-]+-(?:[0-9a-f]{16}|" + CACHED + ")"
"""The first element of our keys, as a regular expression (log filters match it inside messages)."""

_FIRST = re.compile(f"^{KEY_PATTERN}$")


def call_key(task_name: str, group: str) -> tuple[str, str]:
    """A fresh key for one call or batch of ``task_name`` made in the group whose token is ``group``."""
    return call_keys(task_name, group, 1)[0]


def call_keys(task_name: str, group: str, count: int) -> list[tuple[str, str]]:
    """``count`` fresh keys at once (a map's submission): a random id of this process and a counter, unique
    cluster-wide without a random draw per key."""
    global _process, _pid
    if _pid != os.getpid():  # a forked child draws its own id
        _process, _pid = uuid.uuid4().hex[:16], os.getpid()
    first = f"{task_name}-{group}"
    with _lock:
        start = next(_counter)
        for _ in range(count - 1):
            next(_counter)
    return [(first, f"{_process}{start + i:016x}") for i in range(count)]


_process, _pid = uuid.uuid4().hex[:16], os.getpid()
_counter = itertools.count()
_lock = threading.Lock()


def cached_key(task_name: str, token: str) -> tuple[str, str]:
    """The deterministic key of a cached call of ``task_name`` whose inputs hash to ``token``."""
    return (f"{task_name}-{CACHED}", token)


def is_call_key(key: Any) -> bool:
    """Whether ``key`` is one of flyte_dask's task-call keys."""
    return isinstance(key, tuple) and bool(key) and isinstance(key[0], str) and bool(_FIRST.match(key[0]))


def task_of(key: Any) -> str:
    """The task a key belongs to (``my_env.process_item``); any other key as text."""
    return str(key[0]).rsplit("-", 1)[0] if isinstance(key, tuple) and key else str(key)


def task_of_prefix(prefix: str) -> str:
    """The task a Dask task prefix names (a cached call's prefix keeps its ``-cached``)."""
    return prefix.removesuffix(f"-{CACHED}")


def key_name(key: Any) -> str:
    """A key as one string (Flyte's action name for the call)."""
    return "-".join(str(part) for part in key) if isinstance(key, tuple) else str(key)


def as_key(value: Any) -> Any:
    """A key as it was before msgpack turned its tuples into lists (in an event, say)."""
    return tuple(as_key(v) for v in value) if isinstance(value, list) else value
