"""A service's own assets written in the spec: ``[[extend]]`` tables, read into
``Extension`` objects (the Python API takes those directly).

    [[extend]]
    name = "cache"
    series = ["shop_cache_requests_total"]          # metrics of the service's own
    [[extend.recording]]                            # appended to the recording group
    record = "job_cache:shop_cache_requests:rate5m"
    expr = "sum by (job, cache) (rate(shop_cache_requests_total[5m]))"
    [[extend.alert]]                                # its own group, proven like the kit's
    name = "CacheHitRateLow"  ...  runbook = "..."
    [[extend.alert.test]]                           # at least one per alert
    series = [{series = 'shop_cache_requests_total{...}', values = '0+10x30'}]
    quiet = ["5m"]; firing = ["30m"]; resolved = ["50m"]; labels = {job = "shop"}; value = 0.5
    [[extend.panel]]                                # a dashboard row per distinct `row`
    row = "Caches"  title = "..."  description = "..."  unit = "percentunit"
    queries = [{expr = "...", legend = "{{cache}}"}]
    [[extend.runbook]]                              # a general runbook section
    title = "Caches"  body = "..."
    [extend.notes]                                  # the service's advice on any alert
    HighErrorRate = "**Here.** ..."
"""

from __future__ import annotations

import re
from typing import Any

from .fields import SEVERITIES, Reader, check_duration, check_nonempty, check_one_of
from .model import Alert, AlertCase, Extension, Panel, Query, RecordingRule, Row, RunbookSection
from .templates import render

_RECORD = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KINDS = ("timeseries", "stat", "state")


def parse_extensions(items: Any, path: str, problems: list[str]) -> tuple[Extension, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        problems.append(f"{path}: must be a list of tables ([[extend]])")
        return ()
    return tuple(_extension(Reader(item, f"{path}[{i}]", problems)) for i, item in enumerate(items))


def _list(r: Reader, key: str) -> list[Reader]:
    items = r.get(key, list, default=[])
    return [Reader(item, f"{r.path}.{key}[{i}]", r.problems) for i, item in enumerate(items)]


def _extension(r: Reader) -> Extension:
    name = r.get(
        "name",
        str,
        required=True,
        check=lambda v: None if re.fullmatch(r"[a-z][a-z0-9_]*", v) else "must be [a-z][a-z0-9_]*",
    )
    series = r.get(
        "series",
        list,
        default=[],
        check=lambda v: (
            None
            if all(isinstance(s, str) and _RECORD.fullmatch(s) for s in v)
            else "must be metric names"
        ),
    )
    recording = tuple(
        RecordingRule(
            x.get("record", str, required=True, check=_record),
            x.get("expr", str, required=True, check=check_nonempty),
            x.get("labels", dict, default={}),
        )
        for x in _list(r, "recording")
    )
    alerts = tuple(_alert(x) for x in _list(r, "alert"))
    rows: dict[str, list[Panel]] = {}
    for x in _list(r, "panel"):
        row = x.get("row", str, default=name)
        rows.setdefault(row, []).append(_panel(x))
    runbooks = tuple(
        RunbookSection(
            x.get("title", str, required=True, check=check_nonempty),
            x.get("body", str, required=True, check=check_nonempty),
        )
        for x in _list(r, "runbook")
    )
    notes = r.get(
        "notes",
        dict,
        default={},
        check=lambda v: (
            None
            if all(isinstance(t, str) and t.strip() for t in v.values())
            else "must map alert names to markdown"
        ),
    )
    r.reject_unknown()
    return Extension(
        name or "extension",
        recording,
        alerts,
        (),
        tuple(Row(t, tuple(p)) for t, p in rows.items()),
        runbooks,
        tuple(series),
        dict(notes),
    )


def _record(v: str) -> str | None:
    return None if _RECORD.fullmatch(v) and ":" in v else "must be a level:metric:operations name"


def _alert(r: Reader) -> Alert:
    alert = Alert(
        name=r.get(
            "name",
            str,
            required=True,
            check=lambda v: None if re.fullmatch(r"[A-Z][A-Za-z0-9]*", v) else "must be CamelCase",
        ),
        expr=r.get("expr", str, required=True, check=check_nonempty) or "",
        for_=r.get("for", str, default="5m", check=check_duration),
        severity=r.get("severity", str, default="warning", check=check_one_of(SEVERITIES)),
        summary=r.get("summary", str, required=True, check=_template) or "",
        description=r.get("description", str, required=True, check=_template) or "",
        runbook=r.get("runbook", str, required=True, check=check_nonempty) or "",
        cases=tuple(_case(x) for x in _list(r, "test")),
        labels=r.get("labels", dict, default={}),
    )
    if not alert.cases:
        r.problem("test", "required: at least one proof (fires, stays quiet, resolves)")
    r.reject_unknown()
    return alert


def _template(v: str) -> str | None:
    try:
        render(v, {}, 0.0)
    except ValueError as exc:
        return str(exc)
    return None


def _times(r: Reader, key: str) -> tuple[str, ...]:
    return tuple(
        r.get(
            key,
            list,
            required=True,
            check=lambda v: (
                None
                if v and all(isinstance(t, str) and not check_duration(t) for t in v)
                else 'must be a non-empty list of durations like "10m"'
            ),
        )
    )


def _case(r: Reader) -> AlertCase:
    series = []
    for x in _list(r, "series"):
        series.append(
            (
                x.get("series", str, required=True, check=check_nonempty) or "",
                x.get("values", str, required=True, check=check_nonempty) or "",
            )
        )
        x.reject_unknown()
    if not series:
        r.problem("series", "required: the input series")
    case = AlertCase(
        r.get("title", str, default="extension alert proof"),
        tuple(series),
        _times(r, "quiet"),
        _times(r, "firing"),
        _times(r, "resolved"),
        r.get("labels", dict, default={}),
        r.get("value", float, default=0.0),
    )
    r.reject_unknown()
    return case


def _panel(r: Reader) -> Panel:
    queries = []
    for x in _list(r, "queries"):
        queries.append(
            Query(
                x.get("expr", str, required=True, check=check_nonempty) or "",
                x.get("legend", str, default="__auto"),
                x.get("instant", bool, default=False),
            )
        )
        x.reject_unknown()
    if not queries:
        r.problem("queries", "required: at least one query")
    panel = Panel(
        r.get("title", str, required=True, check=check_nonempty) or "",
        r.get("description", str, required=True, check=check_nonempty) or "",
        r.get("unit", str, required=True, check=check_nonempty) or "",
        tuple(queries),
        r.get("kind", str, default="timeseries", check=check_one_of(_KINDS)),
        r.get("width", int, default=12, check=lambda v: None if 1 <= v <= 24 else "must be 1..24"),
        limit=r.get("limit", float),
    )
    r.reject_unknown()
    return panel
