"""Flyte 2's storage configuration (``flyte.storage.Storage``, ``S3``, ``GCS``, ``ABFS``): its fields, ``auto()``
from the same environment variables, and ``S3.for_sandbox()``.

Flyte hands these to its object-store client. On Dask, storage is fsspec: ``init(storage=...)``
is accepted and ignored (configure fsspec where the workers run), and `get_fsspec_kwargs` gives
the options of fsspec's own filesystems (``s3fs``, ``gcsfs``, ``adlfs``), beyond Flyte, so
``fsspec.filesystem("s3", **S3.auto().get_fsspec_kwargs())`` reaches the same store.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="Storage")


@dataclass(frozen=True)
class Storage:
    """What applies to any object store: retries and their backoff."""

    retries: int = 3
    backoff: datetime.timedelta = datetime.timedelta(seconds=5)
    enable_debug: bool = False
    attach_execution_metadata: bool = True

    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "enable_debug": "FLYTE_STORAGE_DEBUG",
        "retries": "FLYTE_STORAGE_RETRIES",
        "backoff": "FLYTE_STORAGE_BACKOFF_SECONDS",
    }
    """The environment variable each field is read from by `auto` (Flyte's names)."""

    @classmethod
    def auto(cls: type[S]) -> S:
        """The configuration the environment gives (`ENVIRONMENT`), defaults elsewhere."""
        defaults = {f.name: f.default for f in fields(cls)}
        found: dict[str, Any] = {}
        for name, variable in cls.ENVIRONMENT.items():
            value = os.environ.get(variable)
            if value is None:
                continue
            default = defaults.get(name)
            if isinstance(default, bool):
                found[name] = value.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                found[name] = int(value)
            elif isinstance(default, datetime.timedelta):
                found[name] = datetime.timedelta(seconds=float(value))
            else:
                found[name] = value
        return cls(**found)

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Options for the fsspec filesystem of this store (``kwargs`` win); ``anonymous`` reads without credentials."""
        return {**({"anon": True} if anonymous else {}), **kwargs}


@dataclass(frozen=True)
class S3(Storage):
    """Amazon S3, or an S3-compatible store at ``endpoint`` (MinIO, LocalStack)."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    addressing_style: str | None = None

    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "endpoint": "FLYTE_AWS_ENDPOINT",
        "access_key_id": "FLYTE_AWS_ACCESS_KEY_ID",
        "secret_access_key": "FLYTE_AWS_SECRET_ACCESS_KEY",
        "addressing_style": "FLYTE_AWS_S3_ADDRESSING_STYLE",
        **Storage.ENVIRONMENT,
    }

    @classmethod
    def for_sandbox(cls) -> S3:
        """The object store of Flyte's local sandbox (MinIO on ``localhost:4566``)."""
        return S3(
            **dataclasses.asdict(Storage.auto()),  # the retry settings the environment gives, as Flyte reads them
            endpoint="http://localhost:4566",
            access_key_id="minio",
            secret_access_key="miniostorage",
        )

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """``s3fs`` options: ``key``, ``secret``, ``client_kwargs`` (endpoint, region), the addressing style."""
        options: dict[str, Any] = {"key": self.access_key_id, "secret": self.secret_access_key}
        client = {"endpoint_url": self.endpoint, "region_name": self.region}
        options["client_kwargs"] = {k: v for k, v in client.items() if v}
        if self.addressing_style:
            options["config_kwargs"] = {"s3": {"addressing_style": self.addressing_style}}
        options = {k: v for k, v in options.items() if v}
        return super().get_fsspec_kwargs(anonymous, **options, **kwargs)


@dataclass(frozen=True)
class GCS(Storage):
    """Google Cloud Storage (credentials from Google's usual sources)."""

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """``gcsfs`` options (``token="anon"`` when ``anonymous``)."""
        return {**({"token": "anon"} if anonymous else {}), **kwargs}


@dataclass(frozen=True)
class ABFS(Storage):
    """Azure Blob Storage / Data Lake."""

    account_name: str | None = None
    account_key: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    ENVIRONMENT: ClassVar[dict[str, str]] = {
        "account_name": "AZURE_STORAGE_ACCOUNT_NAME",
        "account_key": "AZURE_STORAGE_ACCOUNT_KEY",
        "tenant_id": "AZURE_TENANT_ID",
        "client_id": "AZURE_CLIENT_ID",
        "client_secret": "AZURE_CLIENT_SECRET",
    }

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        """``adlfs`` options: the account and, when given, a key or a service principal."""
        names = ("account_name", "account_key", "tenant_id", "client_id", "client_secret")
        options = {name: getattr(self, name) for name in names if getattr(self, name)}
        return super().get_fsspec_kwargs(anonymous, **options, **kwargs)
