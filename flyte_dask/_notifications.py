"""Delivering a run's `flyte_dask.notify` notifications when it ends, as Flyte's local runner does.

Webhooks, Slack and Teams get JSON over HTTP (``urllib``), email goes to the SMTP server on
``localhost:25`` (``smtplib``). Each delivery is bounded by `TIMEOUT` seconds, and a failure
is logged, never raised: a notification never changes a run's outcome.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

from flyte_dask.models import ActionPhase
from flyte_dask.notify import Email, NamedDelivery, NamedRule, Notification, Notifications, Slack, Teams, Webhook

logger = logging.getLogger("flyte_dask.notify")

TIMEOUT = 10.0
"""Seconds one delivery may take (connection and answer), as Flyte's local sender allows."""


def send(
    notifications: Notifications,
    phase: ActionPhase,
    *,
    task: str,
    run: str,
    error: str = "",
    url: str = "",
    duration: str = "",
) -> None:
    """Deliver each of ``notifications`` that names ``phase``; log, never raise, what fails."""
    if isinstance(notifications, NamedRule):
        logger.info("skipping the named notification rule %r: it lives on Flyte's backend", notifications.name)
        return
    values = {
        "task.name": task,
        "run.name": run,
        "run.phase": phase.value,
        "run.error": error,
        "run.duration": duration,
        "run.url": url,
        "run.timestamp": "",
        "project": "",
        "domain": "",
    }
    for notification in (notifications,) if isinstance(notifications, Notification) else notifications:
        if phase not in notification.phases:
            continue
        try:
            _deliver(notification, values)
        except Exception as exc:
            logger.warning("could not send the %s notification of run %s: %s", type(notification).__name__, run, exc)


_GO_PLACEHOLDERS = {
    "{{.Run.Name}}": "run.name",
    "{{.Phase}}": "run.phase",
    "{{.Error}}": "run.error",
    "{{.Run.Project}}": "project",
    "{{.Run.Domain}}": "domain",
    "{{.Run.URL}}": "run.url",
    "{{.Task.Name}}": "task.name",
}
"""The Go-template placeholders of Flyte's default templates, and the value each stands for."""


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with Flyte's local placeholders (``{run.name}``) and its Go ones (``{{.Run.Name}}``) filled in."""
    for placeholder, key in _GO_PLACEHOLDERS.items():
        template = template.replace(placeholder, values[key])
    for key, value in values.items():
        template = template.replace(f"{{{key}}}", value)
    return template


def _render_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, dict):
        return {k: _render_json(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render_json(v, values) for v in value]
    return value


def _deliver(notification: Notification, values: Mapping[str, str]) -> None:
    if isinstance(notification, NamedDelivery):
        logger.info("skipping the named delivery %r: it lives on Flyte's backend", notification.name)
    elif isinstance(notification, Email):
        _email(notification, values)
    elif isinstance(notification, Slack):
        body = {"blocks": _render_json(notification.blocks, values)} if notification.blocks else None
        _post(notification.webhook_url, "POST", {}, body or {"text": render(notification.message or "", values)})
    elif isinstance(notification, Teams):
        card = _render_json(notification.card, values) if notification.card else None
        message = render(notification.message or "", values)
        _post(
            notification.webhook_url, "POST", {}, card or {"title": render(notification.title, values), "text": message}
        )
    elif isinstance(notification, Webhook):
        headers = {k: render(v, values) for k, v in (notification.headers or {}).items()}
        body = _render_json(notification.body, values) if notification.body else None
        _post(render(notification.url, values), notification.method, headers, body)


def _post(url: str, method: str, headers: Mapping[str, str], body: Any) -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        answer.read()
    logger.info("sent a notification to %s", url)


def _email(notification: Email, values: Mapping[str, str]) -> None:
    text = render(notification.body, values)
    message: MIMEText | MIMEMultipart
    if notification.html_body:
        message = MIMEMultipart("alternative")
        message.attach(MIMEText(text, "plain"))
        message.attach(MIMEText(render(notification.html_body, values), "html"))
    else:
        message = MIMEText(text)
    message["Subject"] = render(notification.subject, values)
    message["To"] = ", ".join(notification.recipients)
    if notification.cc:
        message["Cc"] = ", ".join(notification.cc)
    recipients = [*notification.recipients, *notification.cc, *notification.bcc]
    with smtplib.SMTP("localhost", 25, timeout=TIMEOUT) as smtp:
        smtp.sendmail("flyte-dask@localhost", recipients, message.as_string())
    logger.info("sent an email notification to %s", ", ".join(notification.recipients))
