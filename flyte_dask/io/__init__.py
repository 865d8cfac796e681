"""Flyte 2's data types for values too big to pass by value (``flyte.io``): `File`, `Dir`, `DataFrame`.

Each is a reference into the run's raw-data location (Dask config
``flyte-dask.raw-data-path``: a local directory by default, any fsspec URL on a cluster of
several machines), so a map or gather over them sends references, never bytes. Needs the
``io`` extra for data frames (pandas, pyarrow) and the fsspec backend of the URL you use.
"""

from flyte_dask.io._dataframe import PARQUET, DataFrame
from flyte_dask.io._dir import Dir, EmptyDir
from flyte_dask.io._file import File
from flyte_dask.io._hashing import HashFunction, HashlibAccumulator, HashMethod

__all__ = [
    "PARQUET",
    "DataFrame",
    "Dir",
    "EmptyDir",
    "File",
    "HashFunction",
    "HashMethod",
    "HashlibAccumulator",
]
