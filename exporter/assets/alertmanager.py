"""An Alertmanager configuration routing the service's alerts by the spec's paging labels:
``severity="page"`` to the page receiver, warnings and tickets to the ticket receiver.

The file is complete (``amtool check-config`` accepts it) so it can be tried alone; in a
shared Alertmanager, paste ``route.routes[0]``, its receivers and inhibit rules into yours.
"""

from __future__ import annotations

from typing import Any

from .rules import RuleSet


def team_matchers(rules: RuleSet) -> list[str]:
    """What marks this service's alerts: the spec's paging labels, else the job."""
    labels = rules.spec.paging.labels
    if labels:
        return [f'{k}="{v}"' for k, v in labels.items()]
    return [f'job="{rules.spec.job}"']


def _receiver(name: str, url: str | None) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": name}
    if url:
        receiver["webhook_configs"] = [{"url": url, "send_resolved": True}]
    return receiver


def config(rules: RuleSet) -> dict[str, Any]:
    am = rules.spec.alertmanager
    team = team_matchers(rules)
    route = {
        "receiver": am.ticket_receiver,
        "matchers": team,
        "group_by": ["alertname", "severity", "job"],
        "routes": [
            {
                "receiver": am.page_receiver,
                "matchers": ['severity="page"'],
                "group_wait": "10s",
                "group_interval": "1m",
                "repeat_interval": "1h",
            },
            {"receiver": am.ticket_receiver, "matchers": ['severity=~"warning|ticket"']},
        ],
    }
    inhibit = [
        # while an alert pages, its warning/ticket twin adds nothing (ErrorBudgetBurn's
        # ticket windows during an outage the page windows already report)
        {
            "source_matchers": [*team, 'severity="page"'],
            "target_matchers": [*team, 'severity=~"warning|ticket"'],
            "equal": ["alertname", "job"],
        },
    ]
    if rules.spec.parts.database and rules.spec.parts.health:
        inhibit.append(
            {
                "source_matchers": [*team, 'alertname="DatabaseDown"'],
                "target_matchers": [*team, 'alertname="ServiceUnhealthy"'],
                "equal": ["job", "instance"],
            }
        )
    receivers = [_receiver(am.page_receiver, am.page_webhook_url)]
    if am.ticket_receiver != am.page_receiver:
        receivers.append(_receiver(am.ticket_receiver, am.ticket_webhook_url))
    return {
        "route": {
            "receiver": "default",
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [route],
        },
        "inhibit_rules": inhibit,
        "receivers": [{"name": "default"}, *receivers],
    }
