"""Flyte 2's ``flyte.durable``: ``sleep``, ``time`` and ``now``, sync and ``.aio``, so programs using them run.

They are the plain clock here (`_time` says why): a Dask task run again starts over.
"""

from flyte_dask.durable._time import durable_now as now
from flyte_dask.durable._time import durable_sleep as sleep
from flyte_dask.durable._time import durable_time as time

__all__ = ["now", "sleep", "time"]
