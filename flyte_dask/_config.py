"""`init` and `init_from_config`: connect to a cluster, or the one a small YAML file (or Dask's own config) names,
each with its ``.aio`` form (Flyte's are syncified)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
import yaml

from flyte_dask._deployment import ignored
from flyte_dask._internal import settings
from flyte_dask._internal.bridge import Syncified
from flyte_dask._internal.transport import DEFAULT_CONNECT_TIMEOUT, Client
from flyte_dask._internal.transport import init as _init

FLYTE_INIT_OPTIONS = frozenset(
    {
        "org", "project", "domain", "root_dir", "log_level", "log_format", "reset_root_logger", "user_log_level",
        "endpoint", "headless", "insecure", "insecure_skip_verify", "ca_cert_file_path", "auth_type", "command",
        "proxy_command", "api_key", "client_id", "client_credentials_secret", "auth_client_config", "rpc_retries",
        "http_proxy_url", "disable_keyring", "storage", "batch_size", "image_builder", "images", "image_registry",
        "source_config_path", "sync_local_sys_paths", "load_plugin_type_transformers", "local_persistence",
        "local_tracked", "local_tracked_strict", "scopes",
    }
)  # fmt: skip
"""Flyte 2.12's `init` parameters. They configure Flyte's platform (endpoint, auth, images, project), so here they are
accepted and ignored, never handed to the embedded `LocalCluster` as worker options."""

_HARMLESS = frozenset({"root_dir", "log_format", "batch_size", "sync_local_sys_paths", "load_plugin_type_transformers"})
"""Flyte options that change nothing a program can see on Dask (``root_dir`` roots a code bundle; code travels
by cloudpickle here): ignored without a warning."""


def _ignore_flyte_options(where: str, options: dict[str, Any]) -> None:
    """Warn once for each of Flyte's platform options set in ``options`` (``where`` names the call)."""
    for name, value in options.items():
        if value not in (None, False) and name not in _HARMLESS:
            ignored(
                f"{where}({name}=...)",
                "it configures Flyte's platform; Dask needs only the scheduler's address",
                stacklevel=5,
            )


def _init_flyte(address: Any = None, **options: Any) -> Client:
    """`transport.init`, taking Flyte's own `init` keywords as well (`FLYTE_INIT_OPTIONS`, ignored with a warning)."""
    _ignore_flyte_options("init", {name: options.pop(name) for name in FLYTE_INIT_OPTIONS & options.keys()})
    return _init(address, **options)


_init_flyte.__doc__ = _init.__doc__
init = Syncified(_init_flyte)
"""Connect to a Dask cluster (`transport.init`); ``await flyte.init.aio(...)`` in async code, as Flyte's syncified ``init``.
Flyte's platform keywords (``project``, ``endpoint``, ``api_key``, ...) are accepted and ignored, saying so."""


def _init_from_config(
    path_or_config: str | Path | dict[str, Any] | None = None, root_dir: Path | None = None, **flyte_options: Any
) -> Client:
    """Connect to the Dask scheduler a config names (Flyte 2's ``flyte.init_from_config``).

    ``path_or_config`` is a YAML file (or its parsed dict) with::

        address: tcp://scheduler:8786     # or tls://...; also read: scheduler-address
        timeout: 10                       # seconds to wait for the scheduler

    With none, ``$FLYTE_DASK_CONFIG`` names the file, and failing that Dask's own
    config is used (``scheduler-address`` in ``~/.config/dask/*.yaml`` or
    ``DASK_SCHEDULER_ADDRESS``), as `init` does; no address at all starts the embedded
    cluster. Flyte's other settings (``project``, ``storage``, ...) are accepted and ignored.
    """
    del root_dir  # Flyte's code root: code travels to Dask workers with cloudpickle
    _ignore_flyte_options("init_from_config", flyte_options)
    config = _read(path_or_config if path_or_config is not None else os.environ.get(settings.CONFIG_ENV))
    address = config.get("address") or config.get("scheduler-address") or config.get("scheduler_address")
    if address is None:
        address = dask.config.get("scheduler-address", None)
    timeout = float(config.get("timeout", DEFAULT_CONNECT_TIMEOUT))
    return _init(address, timeout=timeout)


init_from_config = Syncified(_init_from_config)
"""`_init_from_config`, with ``await flyte.init_from_config.aio(...)`` for async code."""


def _read(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, dict):
        return source
    path = Path(source).expanduser()
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise FileNotFoundError(
            f"init_from_config: cannot read {path}: {exc.strerror}. Pass the path of a YAML file with 'address: tcp://host:8786'"
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(
            f"init_from_config: {path} must hold a mapping such as 'address: tcp://host:8786', not {type(loaded).__name__}"
        )
    nested = loaded.get("flyte-dask") or loaded.get("flyte_dask")
    return nested if isinstance(nested, dict) else loaded
