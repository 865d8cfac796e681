"""Flyte 2's ``flyte.durable``: ``sleep``, ``time`` and ``now``, sync and ``.aio``, so programs using them run.

On Flyte they persist what they returned across a task's crash and restart. A Dask task
that is run again (its worker died) starts over, so here they are the plain clock:
``time.time``, ``datetime.now(timezone.utc)``, and ``time.sleep`` / ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import datetime as _datetime
import time as _time

from flyte_dask._internal.bridge import Syncified


def _sleep(seconds: float) -> None:
    """Sleep ``seconds`` (``await flyte.durable.sleep.aio(s)`` in async code)."""
    _time.sleep(seconds)


async def _sleep_async(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _now() -> _datetime.datetime:
    """The current local time, as a naive ``datetime`` (``datetime.now()``, as Flyte 2.12's ``durable.now``)."""
    return _datetime.datetime.now()


def _clock() -> float:
    """Seconds since the epoch."""
    return _time.time()


sleep = Syncified(_sleep, _sleep_async)
time = Syncified(_clock)
now = Syncified(_now)

__all__ = ["now", "sleep", "time"]
