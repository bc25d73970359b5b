"""The dashboard lint (what Grafana's dashboard linter checks, for the kit's series), and
every query with Grafana's macros substituted, ready to run against a real Prometheus.

    problems = lint(dashboard_json, metrics=..., recorded=...)   # [] when it is clean
    for q in queries(dashboard_json, {"job": "shop"}, rate_interval="4s", range_="2m"): ...

Rules: a ``$datasource`` variable used by every panel and query; a unit and a description
on every panel; ``$__rate_interval`` as the window of range queries (``$__range`` in instant
ones); counters only inside ``rate()``/``increase()``; only series the kit exposes, the
service declares or the recording rules produce, each filtered by the job (and instance).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .windows import seconds

GRAFANA_MACROS: Final = {"__rate_interval", "__interval", "__range", "__range_s", "__range_ms"}
COUNTER_SUFFIXES: Final = ("_total", "_bucket", "_sum", "_count")
WANT_DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
_KEYWORDS: Final = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_OPERATORS: Final = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "inf",
    "nan",
}
_TOKEN: Final = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\$\{?\w+\}?|[A-Za-z_:][\w:]*|\S'
)


@dataclass(frozen=True)
class Selector:
    """One series selector in a PromQL expression."""

    name: str
    matchers: str  # the text between the braces, blanks removed
    window: str | None  # the range in [...] after it, if any
    function: str | None  # the function whose parentheses directly enclose it

    @property
    def is_recorded(self) -> bool:
        return ":" in self.name

    @property
    def is_counter(self) -> bool:
        return not self.is_recorded and self.name.endswith(COUNTER_SUFFIXES)


def selectors(expr: str) -> list[Selector]:
    """The series selectors of ``expr``: a small scanner, not a PromQL parser (it tracks
    braces, brackets, grouping lists and the function each parenthesis belongs to)."""
    tokens = _TOKEN.findall(expr)
    found: list[Selector] = []
    calls: list[str | None] = []  # the function (or None) of each open parenthesis
    i = 0
    while i < len(tokens):
        token, nxt = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _KEYWORDS and nxt == "(":
            i = tokens.index(")", i) + 1  # a label list, not series
            continue
        if token == "(":
            calls.append(None)
        elif token == ")":
            if calls:
                calls.pop()
        elif nxt == "(" and re.fullmatch(r"[A-Za-z_]\w*", token):
            calls.append(token)
            i += 2
            continue
        elif re.fullmatch(r"[A-Za-z_:][\w:]*", token) and token not in _OPERATORS:
            matchers, window, j = "", None, i + 1
            if j < len(tokens) and tokens[j] == "{":
                end = tokens.index("}", j)
                matchers, j = "".join(tokens[j + 1 : end]), end + 1
            if j < len(tokens) and tokens[j] == "[":
                end = tokens.index("]", j)
                window, j = "".join(tokens[j + 1 : end]), end + 1
            found.append(Selector(token, matchers, window, calls[-1] if calls else None))
            i = j
            continue
        i += 1
    return found


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def lint_expr(
    expr: str,
    *,
    instant: bool,
    variables: set[str],
    metrics: frozenset[str],
    recorded: frozenset[str],
) -> list[str]:
    problems = []
    for used in re.findall(r"\$\{?(\w+)", expr):
        if used not in variables and used not in GRAFANA_MACROS:
            problems.append(f"undefined variable ${used}")
    if re.search(r"\[\s*\d+(?:ms|[smhdwy])", expr):
        problems.append("fixed range window; use $__rate_interval")
    found = selectors(expr)
    if not found:
        problems.append("no series selector found")
    for sel in found:
        if sel.is_recorded:
            if sel.name not in recorded:
                problems.append(f"{sel.name} is not a generated recording rule")
            if sel.name.startswith("job") and 'job=~"$job"' not in sel.matchers:
                problems.append(f'{sel.name} lacks job=~"$job"')
        else:
            if sel.name not in metrics:
                problems.append(f"{sel.name} is not a series the service exposes")
            for matcher in ('job=~"$job"', 'instance=~"$instance"'):
                if matcher not in sel.matchers:
                    problems.append(f"{sel.name} lacks {matcher}")
        if sel.is_counter and (sel.function not in ("rate", "increase") or not sel.window):
            problems.append(f"counter {sel.name} outside rate()/increase()")
        if sel.function in ("rate", "increase") and not sel.is_counter:
            problems.append(f"{sel.function}() of {sel.name}, which is not a counter")
        if sel.window is not None:
            allowed = {"$__rate_interval"} | ({"$__range"} if instant else set())
            if sel.window not in allowed:
                problems.append(f"window [{sel.window}] of {sel.name}; allowed: {sorted(allowed)}")
    return problems


def lint_panel(
    panel: Mapping[str, Any],
    *,
    variables: set[str],
    metrics: frozenset[str],
    recorded: frozenset[str],
) -> list[str]:
    problems = []
    if panel.get("datasource") != WANT_DATASOURCE:
        problems.append(f"datasource {panel.get('datasource')} is not $datasource")
    if not (panel.get("description") or "").strip():
        problems.append("no description")
    if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append("no unit")
    targets = panel.get("targets") or []
    if not targets:
        problems.append("no queries")
    refs = [t.get("refId") for t in targets]
    if len(set(refs)) != len(refs) or not all(refs):
        problems.append(f"refIds not unique and non-empty: {refs}")
    for t in targets:
        if t.get("datasource") != WANT_DATASOURCE:
            problems.append(f"query {t.get('refId')} does not use $datasource")
        instant = bool(t.get("instant")) and not t.get("range")
        problems += [
            f"query {t.get('refId')}: {p}"
            for p in lint_expr(
                t.get("expr", ""),
                instant=instant,
                variables=variables,
                metrics=metrics,
                recorded=recorded,
            )
        ]
    return [f"{panel.get('title')}: {p}" for p in problems]


def lint(
    dashboard: Mapping[str, Any], *, metrics: frozenset[str], recorded: frozenset[str]
) -> list[str]:
    """Every problem of ``dashboard``, one line each; [] when it follows the rules."""
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    problems = []
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no Prometheus $datasource variable")
    for var in variables.values():
        if var.get("type") == "query" and var.get("datasource") != WANT_DATASOURCE:
            problems.append(f"variable ${var['name']} does not use $datasource")
    ids = []
    for panel in panels(dashboard):
        ids.append(panel.get("id"))
        if panel.get("type") != "row":
            problems += lint_panel(
                panel, variables=set(variables), metrics=metrics, recorded=recorded
            )
    if len(ids) != len(set(ids)):
        problems.append("panel ids are not unique")
    return problems


# -- the queries, as Grafana sends them ---------------------------------------------------------

_MACRO: Final = re.compile(
    r"\$__(rate_interval_ms|rate_interval|interval_ms|interval|range_ms|range_s|range)\b"
)
_VARIABLE: Final = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class DashboardQuery:
    panel: str
    ref_id: str
    instant: bool
    promql: str


def substitute(
    expr: str,
    variables: Mapping[str, str],
    *,
    rate_interval: str = "1m",
    interval: str = "15s",
    range_: str = "1h",
) -> str:
    macros = {
        "rate_interval": rate_interval,
        "interval": interval,
        "range": range_,
        "rate_interval_ms": str(int(seconds(rate_interval) * 1000)),
        "interval_ms": str(int(seconds(interval) * 1000)),
        "range_s": str(int(seconds(range_))),
        "range_ms": str(int(seconds(range_) * 1000)),
    }
    out = _MACRO.sub(lambda m: macros[m.group(1)], expr)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in variables:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return variables[name]

    return _VARIABLE.sub(variable, out)


def queries(
    dashboard: Mapping[str, Any], variables: Mapping[str, str], **macros: str
) -> list[DashboardQuery]:
    """Every visible query of ``dashboard`` with ``variables`` and the macros substituted."""
    values = {"instance": ".*", **variables}
    return [
        DashboardQuery(
            panel.get("title", ""),
            t.get("refId", ""),
            bool(t.get("instant")) and not t.get("range"),
            substitute(t["expr"], values, **macros),
        )
        for panel in panels(dashboard)
        for t in panel.get("targets") or []
        if not t.get("hide")
    ]
