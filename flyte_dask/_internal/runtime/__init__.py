"""runtime: what runs inside a worker's Dask task, and the worker and scheduler plugins it needs.

`worker` (the entry points Dask calls: attempts, retries, timeouts, the coroutine loop),
`cancellation` (a cancelled future stops its coroutine), `orchestration` (tasks that
call tasks give back their slot and resources), `crashes` (a call that kills its worker
process costs that call, not its caller: a scheduler plugin), `environ` (per-call variables), `store`
(the persistent cache), `gpu` (GPU resources, telemetry, CuPy results),
`embedded_worker` (the embedded cluster's preload), `adaptive` (a pool's
adaptive target, on the scheduler). Its functions are pickled by
reference, so every machine must run the same flyte_dask release.

May import: `flyte_dask.errors`, the public option and context modules, and the shared
`_internal` modules; never `controllers` or `transport` (a worker's task is called, it
does not call Dask's client itself).
"""
