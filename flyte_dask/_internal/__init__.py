"""The engine, in folders named for where their code runs (as flyte-sdk's ``_internal`` and trio's ``_core``).

- `controllers`: the caller's side of a task call, on the driver or in a task that calls tasks;
- `transport`: the only code that talks to the Dask client;
- `runtime`: what runs inside a worker's Dask task (pickled by reference: driver,
  scheduler and workers must run the same flyte_dask release).

Beside them, modules every side shares, one concept each: `bridge` (every sync/async
crossing), `calls` (the shapes that travel), `keys` (the Dask key format), `events`
(typed scheduler events), `settings` (every config key), `context` (where a call is made
from, groups), `failures` (errors as Flyte's classes), `interrupts` (all of Ctrl-C),
`quiet` (logs), `shipping` (code and data by value), `typecheck`, `nvml`, `storage` (the
raw-data location on fsspec), `entry` (what an attempt calls), `task_reports` (the
running call's report). Shared modules import no folder but `runtime`.
Nothing here is public API: `flyte_dask/__init__.py` re-exports what is.
"""
