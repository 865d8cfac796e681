"""The driver's session with Dask (`init`, `shutdown`) and the client task calls go through.

The driver holds one session, a synchronous `distributed.Client` whose event loop runs
in its own thread. Code running inside a task on a worker uses the worker's client
(`distributed.get_client`, one per worker process), handed out only once connected.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import dask
from dask.utils import parse_timedelta
from distributed import Client, Security, Worker, get_client
from distributed.core import rpc

from flyte_dask._internal import bridge as _bridge
from flyte_dask._internal import settings
from flyte_dask._internal.context import current_worker_task
from flyte_dask._internal.interrupts import install_excepthook
from flyte_dask._internal.quiet import closing_cluster, quiet_compute_failures
from flyte_dask._internal.runtime.crashes import CrashPlugin
from flyte_dask._internal.runtime.orchestration import ResourceReleasePlugin
from flyte_dask._internal.transport import submission
from flyte_dask._internal.transport.cluster import ignores_gpu_requests, start_local_cluster
from flyte_dask._internal.transport.health import _client_loop

DEFAULT_CONNECT_TIMEOUT = 10.0


"""Seconds `init` waits for a scheduler before giving up with a clear error."""


@dataclass
class Session:
    """The driver's connection to Dask: its client and, when we started it, the cluster."""

    client: Client
    cluster: Any | None

    def close(self) -> None:
        """Close the client, and the cluster if this session started it."""
        self.client.close()
        if self.cluster is not None:
            with closing_cluster():
                self.cluster.close()
            settings.ignore_gpu_requests(False)


_session: Session | None = None


_session_lock = threading.RLock()


def init(
    address: str | Client | Any | None = None,
    *,
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
    security: Security | bool | None = None,
    **cluster_options: Any,
) -> Client:
    """Connect this process to a Dask cluster; every task call after it is a Dask future.

    ``address`` may be a scheduler address (``"tcp://10.0.0.5:8786"``), a
    `distributed.Client`, or a cluster object (``LocalCluster``, ``LocalCUDACluster``,
    a dask-jobqueue or dask-kubernetes cluster). With none, Dask's own configuration is
    read (``DASK_SCHEDULER_ADDRESS`` or the ``scheduler-address`` key) and, failing
    that, an embedded local cluster is started (``LocalCUDACluster`` GPU workers plus
    CPU workers when NVML sees GPUs); ``cluster_options`` go to it. A scheduler that
    does not answer within ``timeout`` seconds raises `ConnectionError`.
    ``security`` (a `distributed.Security`) secures the connection to a ``tls://``
    scheduler; for the embedded cluster ``security=True`` makes throw-away certificates
    (`Security.temporary`, needs ``cryptography``) so it speaks TLS too. Without it,
    Dask's ``distributed.comm.tls`` config applies.
    Calling `init` again replaces the previous session.
    """
    if security is not None and not isinstance(security, (Security, bool)):
        raise TypeError(
            f"init(security=...) takes a distributed.Security (or True for the embedded cluster), not {type(security).__name__}"
        )
    global _session
    with _session_lock:
        shutdown()
        if address is None:
            address = dask.config.get("scheduler-address", None)
        if isinstance(address, Client):
            if address.asynchronous:
                raise TypeError(
                    "init() needs a synchronous distributed.Client (sync task calls block on it); "
                    "pass the scheduler address instead, or create the client without asynchronous=True"
                )
            _session = Session(client=address, cluster=None)
        elif address is None:
            if security is not None:
                cluster_options["security"] = security
            ignoring = ignores_gpu_requests(cluster_options)
            cluster = start_local_cluster(**cluster_options)
            settings.ignore_gpu_requests(ignoring)
            _session = Session(client=Client(cluster, set_as_default=False, security=cluster.security), cluster=cluster)
        else:
            _session = Session(
                client=connect(address, timeout, security if isinstance(security, Security) else None), cluster=None
            )
        _register_plugins(_session.client)
        install_excepthook(before_exit=shutdown)
        quiet_compute_failures()  # the embedded cluster closes before threads are torn down
        return _session.client


def _register_plugins(client: Client) -> None:
    """Install flyte_dask's scheduler plugins; a scheduler that cannot import flyte_dask still works."""
    try:
        client.register_plugin(ResourceReleasePlugin())
        client.register_plugin(CrashPlugin())
    except Exception as exc:
        warnings.warn(
            f"the Dask scheduler could not load flyte_dask's scheduler plugins ({exc}). Tasks that call tasks still "
            "give their resources back on the workers, but the scheduler's resource bookkeeping (the dashboard) "
            "will count them as held, and a call that kills its worker process can take its caller along. "
            "Install flyte_dask where the scheduler runs.",
            RuntimeWarning,
            stacklevel=3,
        )


def connect(address: Any, timeout: float, security: Security | None = None) -> Client:
    """A client of the scheduler at ``address``; `ConnectionError` naming the fix if none answers in ``timeout`` seconds.

    A string address is first asked for its identity under our own deadline: a port that
    accepts connections but never speaks Dask (a dashboard, another service) would
    otherwise hold `distributed.Client` forever, whatever its ``timeout``.
    """
    where = address if isinstance(address, str) else getattr(address, "scheduler_address", repr(address))
    security = security or Security()  # Dask's distributed.comm.tls config
    if isinstance(address, str):
        if address.startswith("tls://") and getattr(security, "tls_ca_file", None) is None:
            raise ConnectionError(
                f"{address} speaks TLS, and no certificates were given: pass init({address!r}, security=distributed.Security("
                "tls_ca_file=..., tls_client_cert=..., tls_client_key=..., require_encryption=True)) or set Dask's distributed.comm.tls config"
            )
    try:
        if isinstance(address, str):
            _bridge.run_sync(_speaks_dask(address, timeout, security))
            return Client(address, timeout=timeout, set_as_default=False, security=security)
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"could not reach the Dask scheduler at {where} within {timeout:g}s ({exc or type(exc).__name__}). "
            "Start one with `dask scheduler` (and workers with `dask worker ADDRESS`), check the address "
            "and firewall, or call flyte_dask.init() with no address for an embedded local cluster."
        ) from None


async def _speaks_dask(address: str, timeout: float, security: Security) -> None:
    """Raise `TimeoutError` unless a Dask scheduler at ``address`` answers within ``timeout`` seconds."""
    scheduler = rpc(address, timeout=timeout, connection_args=security.get_connection_args("client"))
    try:
        await asyncio.wait_for(scheduler.identity(), timeout)
    except TimeoutError:
        raise TimeoutError(f"nothing at {address} answered as a Dask scheduler") from None
    finally:
        await scheduler.close_rpc()


def shutdown() -> None:
    """Close the session that `init` opened (and the cluster it started, if any)."""
    global _session
    with _session_lock:
        submission.forget_cached_results()
        if _session is not None:
            _session.close()
            _session = None


atexit.register(shutdown)


_worker_clients: weakref.WeakKeyDictionary[Worker, Client] = weakref.WeakKeyDictionary()


#: Held while a worker process makes its client: only one thread of it asks Dask for one.
_worker_client_lock = threading.Lock()


def current_client() -> Client | None:
    """The client task calls go through here, or None where tasks run as plain Python."""
    state = current_worker_task()
    if state is not None:
        client = _worker_clients.get(state.worker)
        return client if client is not None else _new_worker_client(state.worker)
    session = _session
    return session.client if session is not None else None


def _new_worker_client(worker: Worker) -> Client:
    """The worker process's client, made once and handed out only once it is connected.

    `distributed.Client` makes itself the default before it connects, so a second thread
    calling ``get_client()`` meanwhile gets a client still ``connecting``, a status that
    also means "reconnecting after losing the scheduler". The lock keeps our threads out
    of that window; `_connected` covers a client that user code is still making.
    """
    with _worker_client_lock:
        client = _worker_clients.get(worker)
        if client is None:
            client = get_client()
            if str(client.status) in _STARTING:
                _bridge.wait_on(_client_loop(client), _connected(client))  # the worker's own loop
            _worker_clients[worker] = client
        return client


_STARTING = ("newly-created", "connecting")


async def _connected(client: Client) -> None:
    """Until a client another thread is making has connected; `ConnectionError` past Dask's connect timeout."""
    deadline = time.monotonic() + float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))
    while str(client.status) in _STARTING:  # Dask's Client offers no event for its start
        if time.monotonic() > deadline:
            raise ConnectionError(f"the worker's Dask client did not connect to {client.scheduler} in time")
        await asyncio.sleep(0.01)


def embedded() -> bool:
    """Whether this process's session runs on the embedded cluster that `init` started (Flyte's local mode)."""
    session = _session
    return session is not None and session.cluster is not None


def require_client() -> Client:
    """The current client, starting the default session first if there is none."""
    client = current_client()
    return client if client is not None else init()
