"""Dask worker preload for the embedded cluster's workers (`cluster`): Ctrl-C is the driver's."""

from __future__ import annotations

from typing import Any

from flyte_dask._internal.interrupts import ignore_interrupts


def dask_setup(worker: Any) -> None:
    """Called by Dask in the worker process as it starts."""
    ignore_interrupts()
