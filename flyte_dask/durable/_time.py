"""Flyte 2's durable clock, laid out as flyte 2.12's ``flyte/durable/_time.py`` so code that patches it there works.

On Flyte, ``sleep``, ``time`` and ``now`` persist what they returned across a task's crash and
restart. A Dask task that is run again (its worker died) starts over, so here they are the
plain clock: ``time.time()``, ``datetime.now()`` (naive local time, as Flyte's), and a sleep
until ``seconds`` after it was asked for, through ``asyncio.sleep`` in both forms.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from flyte_dask._internal.bridge import Syncified, run_sync


async def _sleep_async(seconds: float) -> None:
    sleep_until = time.time() + seconds
    now = time.time()
    if sleep_until > now:
        await asyncio.sleep(sleep_until - now)


def _sleep(seconds: float) -> None:
    """Sleep until ``seconds`` after the call, if that moment is still ahead (``await flyte.durable.sleep.aio(s)``)."""
    run_sync(_sleep_async(seconds))


def _now() -> datetime:
    """The current local time, as a naive ``datetime`` (``datetime.now()``, as Flyte 2.12's ``durable.now``)."""
    return datetime.now()


def _clock() -> float:
    """Seconds since the epoch."""
    return time.time()


durable_sleep = Syncified(_sleep, _sleep_async)
durable_time = Syncified(_clock)
durable_now = Syncified(_now)
