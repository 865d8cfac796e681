"""`DataFrame`: a table by reference, stored as Parquet in the run's raw-data location (Flyte 2.12's
``flyte.io.DataFrame``).

A `DataFrame` made from a pandas ``DataFrame`` or a pyarrow ``Table`` holds it until it
first leaves the process: then the table is written once, as Parquet (schema and dtypes
kept), and only its ``uri`` travels. ``df.open(pd.DataFrame).all()`` reads it back as the
type asked for. A task parameter annotated ``pd.DataFrame`` or ``pa.Table`` that is handed
a `DataFrame` receives the table itself, as Flyte's type engine gives (`materialize`).
"""

from __future__ import annotations

import collections.abc as cabc
import sys
from collections.abc import AsyncIterator
from typing import Any

from flyte_dask._internal import storage
from flyte_dask._internal.bridge import in_thread
from flyte_dask.io._hashing import HashMethod, content_token, split_hash

PARQUET = "parquet"  #: Flyte's name for the default storage format
CSV = "csv"
_GENERIC = ""  #: Flyte's "any format"


class DataFrame:
    """A table by reference (Flyte 2's ``flyte.io.DataFrame``): ``uri`` once stored, the table itself before."""

    def __init__(self, uri: str | None = None, format: str | None = _GENERIC, hash: str | None = None) -> None:
        self.uri = uri  #: where the table is stored; None until it first leaves the process
        self.format = format or _GENERIC  #: ``parquet`` or ``csv``; "" reads as Parquet
        self.hash = hash  #: a known cache key, or None to key by content
        self._raw_df: Any = None  #: the in-memory table, while this process holds it
        self._dataframe_type: type[Any] | None = None  #: what `all` returns, set by `open`

    def __repr__(self) -> str:
        return f"DataFrame(uri={self.uri!r}, format={self.format!r}, hash={self.hash!r})"

    def __str__(self) -> str:
        """As Flyte's (a pydantic model) prints: ``uri='...' format='parquet' hash=None``."""
        return f"uri={self.uri!r} format={self.format!r} hash={self.hash!r}"

    # -- making one ------------------------------------------------------------------
    @classmethod
    def wrap_df(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """Wrap a pandas ``DataFrame`` or pyarrow ``Table`` (stored when it first leaves the process)."""
        instance = cls(uri=uri)
        instance._raw_df = val
        return instance

    @classmethod
    def from_df(cls, val: Any = None, uri: str | None = None) -> DataFrame:
        """Flyte's older name for `wrap_df`."""
        return cls.wrap_df(val, uri=uri)

    @classmethod
    def from_local_sync(
        cls,
        df: Any,
        columns: cabc.Mapping[str, type[Any]] | None = None,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
    ) -> DataFrame:
        """Store ``df`` now (at ``remote_destination``, default a new raw-data path) and refer to it."""
        known, method = split_hash(hash_method)
        if method is not None:
            method.update(df)
            known = method.result()
        stored = cls.wrap_df(df, uri=remote_destination)
        stored.hash = known
        stored.store()
        return stored

    @classmethod
    async def from_local(
        cls,
        df: Any,
        columns: cabc.Mapping[str, type[Any]] | None = None,
        remote_destination: str | None = None,
        hash_method: HashMethod | str | None = None,
    ) -> DataFrame:
        """The async form of `from_local_sync`."""
        return await in_thread(cls.from_local_sync, df, columns, remote_destination, hash_method)

    @classmethod
    def from_existing_remote(cls, remote_path: str, format: str | None = None, **kwargs: Any) -> DataFrame:
        """A reference to a table already stored at ``remote_path`` (``format``: ``parquet`` or ``csv``)."""
        return cls(uri=remote_path, format=format, hash=kwargs.get("hash"))

    @property
    def val(self) -> Any:
        """The in-memory table, when this process holds one."""
        return self._raw_df

    # -- reading -----------------------------------------------------------------------
    def open(self, dataframe_type: type[Any]) -> DataFrame:
        """Choose what `all` returns: ``pd.DataFrame`` or ``pa.Table``."""
        if not is_table_type(dataframe_type):
            raise TypeError(
                f"DataFrame.open({getattr(dataframe_type, '__name__', dataframe_type)!r}): flyte_dask reads tables "
                "as pandas.DataFrame or pyarrow.Table"
            )
        self._dataframe_type = dataframe_type
        return self

    def all_sync(self) -> Any:
        """The whole table, as the type `open` chose."""
        if self._dataframe_type is None:
            raise ValueError("No dataframe type set. Use open() to set the local dataframe type you want to use.")
        if self._raw_df is not None:
            return _convert(self._raw_df, self._dataframe_type)
        return _convert(self._read(), self._dataframe_type)

    async def all(self) -> Any:
        """The async form of `all_sync`."""
        return await in_thread(self.all_sync)

    async def iter(self) -> AsyncIterator[Any]:
        """The table in record batches (one piece per Parquet row group), each as the type `open` chose."""
        if self._dataframe_type is None:
            raise ValueError("No dataframe type set. Use open() to set the local dataframe type you want to use.")
        if self._raw_df is not None or self._format != PARQUET:
            yield await self.all()
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, inner = storage.filesystem(self._location)
        parquet = await in_thread(pq.ParquetFile, fs.open(inner, "rb"))
        for group in range(parquet.num_row_groups):
            table = await in_thread(parquet.read_row_group, group)
            yield _convert(pa.Table.from_batches(table.to_batches(), schema=table.schema), self._dataframe_type)

    # -- travel ------------------------------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        """Travel as the reference: a held table is stored first (once), so its bytes never ride along."""
        if self._raw_df is not None and self.uri is None:
            self.store()
        return (DataFrame, (self.uri, self.format, self.hash))

    def __dask_tokenize__(self) -> tuple[str, Any]:
        """The cache identity: ``hash`` when known, else the stored bytes or the held table's content."""
        if self.hash:
            return ("flyte_dask.io.DataFrame", self.hash)
        if self.uri is not None:
            return ("flyte_dask.io.DataFrame", content_token(self._location))
        from dask.base import tokenize

        return ("flyte_dask.io.DataFrame", tokenize(self._raw_df))

    @property
    def _format(self) -> str:
        return self.format if self.format == CSV else PARQUET

    @property
    def _location(self) -> str:
        """The stored file: ``uri`` itself, or the first data file inside a directory ``uri`` (Flyte's layout)."""
        assert self.uri is not None
        fs, inner = storage.filesystem(self.uri)
        if fs.isdir(inner):
            found = [p for p in fs.find(inner) if not p.rsplit("/", 1)[-1].startswith((".", "_"))]
            if not found:
                raise storage.missing(self.uri)
            return fs.unstrip_protocol(sorted(found)[0]) if "://" in self.uri else sorted(found)[0]
        return self.uri

    def store(self) -> None:
        """Write the held table under ``uri`` (a new raw-data directory when None), as Flyte lays it out:
        ``<uri>/00000`` in Parquet, or ``<uri>/data.csv`` (pandas' ``to_csv``, no index) when the format is CSV."""
        self.format = self._format
        if self.uri is None:
            self.uri = storage.random_path()
        table = self._raw_df
        pandas = sys.modules.get("pandas")
        as_pandas = pandas is not None and isinstance(table, pandas.DataFrame)
        with storage.open_file(f"{self.uri}/{'data.csv' if self.format == CSV else '00000'}", "wb") as f:
            if self.format == CSV:
                if as_pandas:
                    table.to_csv(f, index=False)
                else:
                    import pyarrow.csv as pacsv

                    pacsv.write_csv(table, f)
            elif as_pandas:
                table.to_parquet(f)
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, f)

    def _read(self) -> Any:
        """The stored table: a pandas ``DataFrame`` for CSV (pandas' ``read_csv``), a pyarrow ``Table`` for Parquet."""
        with storage.open_file(self._location, "rb") as f:
            if self._format == CSV:
                import pandas as pd

                return pd.read_csv(f)
            import pyarrow.parquet as pq

            return pq.read_table(f)


def _table_classes() -> tuple[type[Any], ...]:
    """The table types a `DataFrame` opens as, of the libraries loaded here (pandas, pyarrow)."""
    found = []
    if (pandas := sys.modules.get("pandas")) is not None:
        found.append(pandas.DataFrame)
    if (pyarrow := sys.modules.get("pyarrow")) is not None:
        found.append(pyarrow.Table)
    return tuple(found)


def _convert(table: Any, to: type[Any]) -> Any:
    """``table`` (pandas or pyarrow) as type ``to`` (pandas or pyarrow)."""
    if isinstance(table, to):
        return table
    pandas = sys.modules.get("pandas")
    if pandas is not None and issubclass(to, pandas.DataFrame):
        return table.to_pandas()
    import pyarrow as pa

    return pa.Table.from_pandas(table, preserve_index=False)


def is_table_type(tp: Any) -> bool:
    """Whether annotation ``tp`` is a table type a `DataFrame` argument becomes (pandas or pyarrow)."""
    return isinstance(tp, type) and issubclass(tp, _table_classes())


def materialize(value: Any, tp: Any) -> Any:
    """``value`` for a parameter annotated ``tp``: a `DataFrame` read as ``tp`` when ``tp`` is a table type."""
    if isinstance(value, DataFrame) and is_table_type(tp):
        return value.open(tp).all_sync()
    return value
