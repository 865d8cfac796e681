"""Flyte 2's ``flyte.models``: the phases of a run (`ActionPhase`) and the shapes `ctx` returns.

The rest of Flyte's module (code bundles, serialization contexts, interfaces) describes its
platform's packaging: each name imports, and using one raises `errors.NotOnDaskError`.
"""

from __future__ import annotations

import enum

from flyte_dask._absent import absent_names
from flyte_dask._runcontext import NULL_TASK_CONTEXT, ActionID, GroupData, TaskContext


class ActionPhase(str, enum.Enum):  # noqa: UP042 (Flyte's: str() and format() as a mixed-in Enum's)
    """The phase of a run or action (Flyte 2.12's values); notifications name the terminal ones."""

    QUEUED = "queued"
    WAITING_FOR_RESOURCES = "waiting_for_resources"
    INITIALIZING = "initializing"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    RECOVERED = "recovered"

    @property
    def is_terminal(self) -> bool:
        """Whether a run in this phase has ended (it never leaves it)."""
        return self in _TERMINAL

    def to_protobuf_name(self) -> str:
        """Flyte's wire name, ``ACTION_PHASE_<PHASE>``."""
        return f"ACTION_PHASE_{self.value.upper()}"


_TERMINAL = frozenset(
    {ActionPhase.SUCCEEDED, ActionPhase.FAILED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT, ActionPhase.RECOVERED}
)

_absent_all, __getattr__ = absent_names(
    "flyte.models",
    ("CheckpointPaths", "CodeBundle", "NativeInterface", "PathRewrite", "RawDataPath", "SerializationContext"),
    "tasks travel to Dask workers with cloudpickle; flyte.ctx() gives the running call's TaskContext",
)


__all__ = ["NULL_TASK_CONTEXT", "ActionID", "ActionPhase", "GroupData", "TaskContext", *_absent_all]
