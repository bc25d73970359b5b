"""What every extension shares: the job, selectors, dashboard scope and the SLI's operations."""

from __future__ import annotations

from typing import Final

from ..domain.operations import Op

JOB: Final = "aiexpense"
# Dashboard queries filter raw series by the dashboard's variables (the kit's convention).
SCOPE: Final = 'job=~"$job", instance=~"$instance"'
RATE: Final = "$__rate_interval"

# The availability SLI: the operations a person triggers (the six webhooks and the JSON
# API's). service/monitoring.toml lists the same ones (tests/stack/test_alert_rules.py
# compares them); the canary and the request-latency rules count exactly these.
SLI_OPERATIONS: Final = (
    Op.WEBHOOK_LINE_MESSAGE,
    Op.WEBHOOK_TELEGRAM_MESSAGE,
    Op.WEBHOOK_SLACK_MESSAGE,
    Op.WEBHOOK_DISCORD_MESSAGE,
    Op.WEBHOOK_WHATSAPP_MESSAGE,
    Op.WEBHOOK_MESSENGER_MESSAGE,
    Op.AUTO_SIGNUP,
    Op.USER_EXISTS,
    Op.CREATE_EXPENSE,
    Op.GET_EXPENSES,
    Op.GET_EXPENSES_BY_DATE_RANGE,
    Op.UPDATE_EXPENSE,
    Op.DELETE_EXPENSE,
    Op.GET_METRICS,
    Op.CATEGORY_LOOKUP,
)
SLI: Final = f'operation=~"{"|".join(SLI_OPERATIONS)}"'


def sel(metric: str, *matchers: str) -> str:
    """``metric`` in the service's job, with more matchers."""
    inner = ", ".join((f'job="{JOB}"', *matchers))
    return f"{metric}{{{inner}}}"


def panel_sel(metric: str, *matchers: str) -> str:
    """``metric`` under the dashboard's job and instance variables."""
    inner = ", ".join((SCOPE, *matchers))
    return f"{metric}{{{inner}}}"


def series(name: str, **labels: str) -> str:
    """A promtool input series of the job's instance ``app-1:8080`` unless told."""
    every = {"job": JOB, "instance": "app-1:8080", **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in every.items())
    return f"{name}{{{inner}}}"
