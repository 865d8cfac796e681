"""Flyte 2.12's trigger declarations (``flyte/_trigger.py``): `Trigger` and its schedules, with Flyte's fields,
checks and constructors, so a task declared with ``triggers=`` imports and reads back as on Flyte.

A trigger is a launch plan that Flyte's platform fires (on a schedule or a new artifact
version). Flyte's local runner never fires one, and neither does flyte_dask: Dask has no
scheduler of runs. To run on a schedule, call ``flyte.run`` from cron or a workflow manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def check_max_action_concurrency(value: int | None) -> None:
    """Flyte 2.12's check (and words) on ``max_action_concurrency``, for runs and triggers: 0 or at least 2."""
    if value is not None and (value < 0 or value == 1):
        raise ValueError(
            f"max_action_concurrency must be 0 (platform default) or at least 2, got {value}. A value of 1 would "
            "deadlock the run: the parent action holds a concurrency slot while waiting for its child actions to run."
        )


class _TriggerTime:
    """Bind a schedule trigger's firing time to a task input (``inputs={"when": flyte.TriggerTime}``)."""

    def __repr__(self) -> str:
        return "TriggerTime"


class _TriggeredArtifact:
    """Bind the artifact version that fired an `OnArtifact` trigger to a task input."""

    def __repr__(self) -> str:
        return "TriggeredArtifact"


TriggerTime = _TriggerTime()
TriggeredArtifact = _TriggeredArtifact()


@dataclass(frozen=True)
class TriggeredPartition:
    """Bind one partition value of the triggering artifact version to a task input."""

    key: str

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("TriggeredPartition requires a non-empty partition key")


@dataclass(frozen=True, init=False)
class OnArtifact:
    """Fire a `Trigger` when a new version of the artifact ``name`` is made (``partitions`` narrow it)."""

    name: str
    version: str | None = None
    partitions: Mapping[str, str] | None = None

    def __init__(
        self,
        name: str,
        version: str | None = None,
        partitions: Mapping[str, str] | None = None,
        **partition_kwargs: str,
    ) -> None:
        if not name:
            raise ValueError("OnArtifact requires a non-empty artifact name")
        merged: dict[str, str] = {**(partitions or {}), **partition_kwargs}
        for key, value in merged.items():
            if not isinstance(value, str):
                raise TypeError(
                    f"OnArtifact partition {key!r} must be a string value, got {type(value).__name__}; "
                    "partition triggers match string partitions only"
                )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "partitions", merged or None)

    def __str__(self) -> str:
        version = f"@{self.version}" if self.version else ""
        parts = " [" + ", ".join(f"{k}={v}" for k, v in self.partitions.items()) + "]" if self.partitions else ""
        return f"Artifact Trigger: on new version of {self.name}{version}{parts}"


@dataclass(frozen=True)
class Cron:
    """A five-field cron schedule (``minute hour day-of-month month day-of-week``) in ``timezone``."""

    expression: str
    timezone: str = "UTC"

    @property
    def timezone_expression(self) -> str:
        return f"CRON_TZ={self.timezone} {self.expression}"

    def __str__(self) -> str:
        return f"Cron Trigger: {self.timezone_expression}"


@dataclass(frozen=True)
class FixedRate:
    """A schedule every ``interval_minutes``, from ``start_time`` when given."""

    interval_minutes: int
    start_time: datetime | None = None

    def __str__(self) -> str:
        return f"FixedRate Trigger: every {self.interval_minutes} minutes"


def _every(expression: str, default_name: str, default_description: str) -> Any:
    """One of Flyte's `Trigger` constructors (``Trigger.hourly()``...): a trigger on the cron schedule
    ``expression``; ``trigger_time_input_key`` names the input that gets the firing time, and the other
    keywords are `Trigger`'s fields."""

    def make(
        cls: type[Trigger],
        trigger_time_input_key: str | None = None,
        *,
        name: str = default_name,
        description: str = default_description,
        inputs: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Trigger:
        bound = {trigger_time_input_key: TriggerTime} if trigger_time_input_key is not None else {}
        return cls(
            name=name,
            automation=Cron(expression),
            description=description,
            inputs={**bound, **(inputs or {})},
            **fields,
        )

    make.__name__ = default_name
    make.__doc__ = (
        f"{default_description} (cron ``{expression}``). ``trigger_time_input_key`` names the input that gets "
        "the firing time; the other keywords are `Trigger`'s fields."
    )
    return classmethod(make)


@dataclass(frozen=True)
class Trigger:
    """A named launch configuration for a task, fired by its ``automation`` (Flyte's platform does; Dask does not).

    Fields, checks and the ``hourly``/``daily``/... constructors are Flyte 2.12's.
    """

    name: str
    automation: Cron | FixedRate | OnArtifact | None = None
    description: str = ""
    auto_activate: bool = True
    inputs: dict[str, Any] | None = None
    env_vars: dict[str, str] | None = None
    interruptible: bool | None = None
    overwrite_cache: bool = False
    queue: str | None = None
    max_action_concurrency: int | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    notifications: Any = None
    custom_context: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Trigger name cannot be empty")
        inputs = self.inputs or {}
        artifact_args = sorted(k for k, v in inputs.items() if v is TriggeredArtifact)
        if len(artifact_args) > 1:
            raise ValueError(
                f"Trigger '{self.name}' binds TriggeredArtifact to multiple inputs {artifact_args}; at most one "
                "input can receive the triggering artifact."
            )
        partition_args = [k for k, v in inputs.items() if isinstance(v, TriggeredPartition)]
        for bound, what in ((artifact_args, "TriggeredArtifact"), (partition_args, "TriggeredPartition")):
            if bound and not isinstance(self.automation, OnArtifact):
                raise ValueError(
                    f"Trigger '{self.name}' binds {what} to input '{bound[0]}' but its automation is not OnArtifact."
                )
        if not isinstance(self.automation, (Cron, FixedRate)) and any(v is TriggerTime for v in inputs.values()):
            raise ValueError(
                f"Trigger '{self.name}' uses TriggerTime, which is only available on schedule (Cron/FixedRate) triggers."
            )
        check_max_action_concurrency(self.max_action_concurrency)

    minutely = _every("* * * * *", "minutely", "A trigger that runs every minute")
    hourly = _every("0 * * * *", "hourly", "A trigger that runs every hour")
    daily = _every("0 0 * * *", "daily", "A trigger that runs daily at midnight")
    weekly = _every("0 0 * * 0", "weekly", "A trigger that runs weekly on Sundays at midnight")
    monthly = _every("0 0 1 * *", "monthly", "A trigger that runs monthly on the 1st at midnight")


def to_triggers(triggers: Trigger | tuple[Trigger, ...] | list[Trigger]) -> tuple[Trigger, ...]:
    """``@env.task(triggers=...)`` as a tuple, as Flyte keeps it (``task.triggers``)."""
    return (triggers,) if isinstance(triggers, Trigger) else tuple(triggers)
