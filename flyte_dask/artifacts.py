"""Flyte 2's ``flyte.artifacts``: named, versioned outputs kept by a Flyte backend.

There is no artifact store on Dask: each name imports, and using one raises `errors.NotOnDaskError`.
"""

from flyte_dask._absent import absent_names

__all__, __getattr__ = absent_names(
    "flyte.artifacts",
    (
        "Artifact", "ArtifactKey", "ArtifactVersionId", "Card", "CardFormat", "CardType", "Granularity",
        "KIND_KEY", "Kind", "MAX_PARENTS", "Metadata", "TimePartition", "new", "produces",
    ),
    "return the value from the task, or write it with flyte.io.File / Dir / DataFrame under the run's raw-data path",
)  # fmt: skip
