"""Flyte 2's ``flyte.notify``: tell people or systems when a run ends (``with_runcontext(notifications=...)``).

The classes, fields, defaults and checks are Flyte 2.12's. As Flyte's local runner does,
flyte_dask delivers them itself when a run reaches a phase they name: `Webhook`, `Slack` and
`Teams` as JSON over HTTP, `Email` through the SMTP server on ``localhost:25``; `NamedRule`
and `NamedDelivery` name rules kept on Flyte's backend, so they are skipped. A delivery that
fails is logged and never fails the run. Beyond Flyte's local runner, the templates' Go
placeholders (``{{.Run.Name}}``, ``{{.Phase}}``, ``{{.Error}}``) are filled in too, besides its
``{run.name}``-style ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from flyte_dask.models import ActionPhase

SUPPORTED_PHASES = frozenset({ActionPhase.FAILED, ActionPhase.SUCCEEDED, ActionPhase.ABORTED, ActionPhase.TIMED_OUT})
"""The phases a notification can be sent on: the ends of a run."""


@dataclass(frozen=True)
class NamedRule:
    """A notification rule kept on Flyte's backend, by name (skipped on Dask, as by Flyte's local runner)."""

    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Rule name must not be empty")


@dataclass(frozen=True, kw_only=True)
class Notification:
    """What every notification has: the phases (``on_phase``) that send it."""

    on_phase: ActionPhase | tuple[ActionPhase, ...]

    def __post_init__(self) -> None:
        if isinstance(self.on_phase, str):
            object.__setattr__(self, "on_phase", (self.on_phase,))
        elif isinstance(self.on_phase, (list, tuple)):
            object.__setattr__(self, "on_phase", tuple(self.on_phase))
        if not self.on_phase:
            raise ValueError("At least one phase must be specified")
        for phase in self.phases:
            if phase not in SUPPORTED_PHASES:
                raise ValueError(f"Notification on phase {phase} is not supported.")

    @property
    def phases(self) -> tuple[ActionPhase, ...]:
        """``on_phase`` as a tuple (it is one after construction)."""
        return self.on_phase if isinstance(self.on_phase, tuple) else (self.on_phase,)


@dataclass(frozen=True, kw_only=True)
class NamedDelivery(Notification):
    """A delivery configured on Flyte's backend, by name (skipped on Dask)."""

    name: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.name:
            raise ValueError("Delivery config name must not be empty")


@dataclass(frozen=True, kw_only=True)
class Email(Notification):
    """An email to ``recipients`` (and ``cc``, ``bcc``), sent through the SMTP server on ``localhost:25``."""

    recipients: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = "Run {{.Run.Name}} {{.Phase}}"
    body: str = (
        "Run: {{.Run.Name}}\nProject/Domain: {{.Run.Project}}/{{.Run.Domain}}\nPhase: {{.Phase}}\nError: {{.Error}}\n"
    )
    html_body: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("recipients", "cc", "bcc"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.recipients:
            raise ValueError("At least one recipient must be specified")


@dataclass(frozen=True, kw_only=True)
class Slack(Notification):
    """A message (or Block Kit ``blocks``) posted to a Slack incoming webhook."""

    webhook_url: str
    message: str | None = None
    blocks: tuple[dict[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.webhook_url:
            raise ValueError("webhook_url is required")
        if isinstance(self.blocks, list):
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.message is None and self.blocks is None:
            object.__setattr__(
                self,
                "message",
                "Run: {{.Run.Name}} finished with phase {{.Phase}}\n | {{.Run.Project}}/{{.Run.Domain}}\n",
            )


@dataclass(frozen=True, kw_only=True)
class Teams(Notification):
    """A message (or an adaptive ``card``) posted to a Microsoft Teams incoming webhook."""

    webhook_url: str
    title: str = "Run {{.Run.Name}} {{.Phase}}"
    message: str | None = None
    card: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.webhook_url:
            raise ValueError("webhook_url is required")
        if self.message is None and self.card is None:
            object.__setattr__(
                self,
                "message",
                "Run: {{.Run.Name}}\nProject/Domain: {{.Run.Project}}/{{.Run.Domain}}\nPhase: {{.Phase}}\nError: {{.Error}}\n",
            )


@dataclass(frozen=True, kw_only=True)
class Webhook(Notification):
    """A JSON ``body`` sent to ``url`` with ``method`` and ``headers``."""

    url: str
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"] = "POST"
    headers: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.url:
            raise ValueError("url is required")
        if self.body is None:
            object.__setattr__(
                self,
                "body",
                {
                    "run": "{{.Run.Name}}",
                    "project": "{{.Run.Project}}",
                    "domain": "{{.Run.Domain}}",
                    "phase": "{{.Phase}}",
                    "error": "{{.Error}}",
                },
            )


Notifications = NamedRule | Notification | tuple[Notification, ...]
"""What ``with_runcontext(notifications=...)`` takes: a notification, several, or a backend rule's name."""

__all__ = ["Email", "NamedDelivery", "NamedRule", "Notification", "Slack", "Teams", "Webhook"]
