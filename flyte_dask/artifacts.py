"""Flyte 2's ``flyte.artifacts``: named, versioned outputs kept by a Flyte backend.

There is no artifact store on Dask. As in Flyte's local runner, `new` hands back the value
itself (a task returning it returns the file), and its `Metadata` is checked and dropped;
every other name imports, and using one raises `errors.NotOnDaskError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flyte_dask._absent import absent_names

T = TypeVar("T")

_absent_all, __getattr__ = absent_names(
    "flyte.artifacts",
    (
        "Artifact", "ArtifactKey", "ArtifactVersionId", "Card", "CardFormat", "CardType", "Granularity",
        "KIND_KEY", "Kind", "MAX_PARENTS", "TimePartition", "produces",
    ),
    "return the value from the task, or write it with flyte.io.File / Dir / DataFrame under the run's raw-data path",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What Flyte records with an artifact version (its fields); nothing records it on Dask."""

    name: str
    version: str | None = None
    description: str | None = None
    attrs: Mapping[str, str] | None = None
    card: Any = None
    kind: Any = None
    partitions: Mapping[str, Any] | None = None
    parents: tuple[Any, ...] | None = None
    version_from_content: bool = False


def new(obj: T, metadata: Metadata) -> T:
    """``obj`` itself, once checked as Flyte checks an artifact: a `flyte_dask.io` File, Dir or DataFrame."""
    from flyte_dask.io import DataFrame, Dir, File

    if not isinstance(metadata, Metadata):
        raise TypeError(f"artifacts.new(obj, metadata) takes a flyte.artifacts.Metadata, not {type(metadata).__name__}")
    if not isinstance(obj, (File, Dir, DataFrame)):
        raise TypeError(
            f"values of type {type(obj).__name__!r} cannot be artifacts; artifacts are offloaded assets: "
            "flyte.io.File, flyte.io.Dir, or flyte.io.DataFrame (wrap a raw dataframe with DataFrame.from_df())"
        )
    return obj


__all__ = ["Metadata", "new", *_absent_all]
