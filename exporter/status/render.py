"""The status page's HTML, made from one ``snapshot.Snapshot`` and nothing else.

Every figure is the JSON bodies' own value (same rounding, same units: milliseconds as the
JSON's ``*_ms``, percentages as its ``error_rate``), so the page and the endpoints can be
compared digit for digit. Every string from the data goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from .assets import CSS, ICONS, JS, favicon
from .snapshot import Snapshot

STATUSES = ("healthy", "degraded", "unhealthy")
NA = '<span class="na" title="no data">–</span>'

# The fields of the system summary the page shows in its totals; the rest are the service's.
SYSTEM_FIELDS = {
    "total_operations": "Operations",
    "total_errors": "Errors",
    "error_rate": "Error %",
    "avg_latency_ms": "Average ms",
    "max_latency_ms": "Slowest ms",
    "monitored_operations": "Operations seen",
}
HIDDEN_SYSTEM_FIELDS = {"uptime", "uptime_seconds"}


@dataclass(frozen=True, slots=True)
class Links:
    """Where the page points: the endpoints under ``base`` (the mounted prefix) and the
    runbook of each failing check or condition (``runbook(anchor)``)."""

    base: str
    metrics: str
    runbook: Callable[[str], str]
    runbooks: Mapping[str, str]  # check name -> runbook anchor
    fallback_runbook: str  # for a failing check without one of its own


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    value: Callable[[Mapping[str, Any]], Any]  # the JSON's value for one operation
    show: Callable[[Any], str]
    group: str = ""  # "" or the window ("1m", "5m")
    descending: bool = True  # the first click's order


def _count(value: int) -> str:
    return f"{value:,}"


def _number(value: float | None) -> str:
    # repr of a float is what json.dumps writes: the same digits as the JSON body.
    return NA if value is None else repr(value)


def _errors(value: int) -> str:
    return f'<span class="flag">{_icon("unhealthy")} {value:,}</span>' if value else "0"


def _percent(value: float) -> str:
    return f'<span class="flag">{_icon("unhealthy")} {value!r}</span>' if value else "0.0"


def _last_seen(value: str | None) -> str:
    if value is None:
        return NA
    return f'<time datetime="{escape(value)}">{escape(value[11:19])}</time>'


def _window(label: str, field: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda op: op["window"][label][field]


def _columns() -> tuple[Column, ...]:
    columns = [
        Column("name", "Operation", lambda op: op["name"], escape, descending=False),
        Column("count", "Count", lambda op: op["count"], _count),
        Column("errors", "Errors", lambda op: op["error_count"], _errors),
        Column("error_rate", "Err %", lambda op: op["error_rate"], _percent),
        Column("avg", "Avg", lambda op: op["avg_duration_ms"], _number),
    ]
    for label in ("1m", "5m"):
        columns.append(
            Column(f"error_rate_{label}", "Err %", _window(label, "error_rate"), _percent, label)
        )
        for p in ("p50", "p95", "p99"):
            columns.append(Column(f"{p}_{label}", p, _window(label, f"{p}_ms"), _number, label))
    columns += [
        Column("min", "Min", lambda op: op["min_duration_ms"], _number),
        Column("max", "Max", lambda op: op["max_duration_ms"], _number),
        Column("last", "Last seen", lambda op: op["last_recorded"], _last_seen),
    ]
    return tuple(columns)


COLUMNS = _columns()
BY_KEY = {c.key: c for c in COLUMNS}
WORST = "worst"
WORST_TEXT = "worst first (5-minute error %, then 5-minute p99, then error %, then max)"


@dataclass(frozen=True, slots=True)
class Sort:
    key: str = WORST
    descending: bool = True

    @classmethod
    def parse(cls, sort: str | None, direction: str | None) -> Sort:
        """From ``?sort=`` and ``?dir=``; a ValueError names what is wrong."""
        key = sort or WORST
        if key != WORST and key not in BY_KEY:
            raise ValueError(f"unknown sort: {key[:40]!r}")
        if direction not in (None, "", "asc", "desc"):
            raise ValueError(f"unknown dir: {direction[:40]!r} (expected asc or desc)")
        if not direction:
            return cls(key, key == WORST or BY_KEY[key].descending)
        return cls(key, direction == "desc")

    def apply(self, operations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Sorted; an empty figure (no data) sorts last either way, ties by name."""
        if self.key == WORST:
            return sorted(operations, key=_badness, reverse=True)
        value = BY_KEY[self.key].value
        known = sorted((op for op in operations if value(op) is not None), key=_name)
        known.sort(key=value, reverse=self.descending)
        return known + sorted((op for op in operations if value(op) is None), key=_name)


def _name(op: Mapping[str, Any]) -> str:
    return str(op["name"])


def _badness(op: Mapping[str, Any]) -> tuple[float, float, float, float]:
    w = op["window"]["5m"]
    return (w["error_rate"], w["p99_ms"] or 0.0, op["error_rate"], op["max_duration_ms"] or 0.0)


def sort_keys() -> list[str]:
    return [WORST, *BY_KEY]


# -- the page ---------------------------------------------------------------------------------


def render(
    snap: Snapshot,
    *,
    title: str,
    links: Links,
    sort: Sort,
    judged: Mapping[str, str],
    refresh_seconds: float,
) -> str:
    """The whole document. ``judged``: check name -> what it is judged against."""
    health = snap.health
    status = health["status"] if health else "unknown"
    system = snap.system
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(status)} · {escape(title)} status</title>"
        f'<link rel="icon" href="{favicon(status)}"><style>{CSS}</style></head>'
        f'<body data-refresh="{refresh_seconds:g}">{ICONS}<div class="wrap">',
        '<div class="live"><span id="live-note"></span><span id="announce" class="sr" '
        'role="status"></span>'
        '<button type="button" id="live" hidden aria-pressed="false">Pause auto-refresh</button>'
        "</div>"
        '<noscript><p class="meta">JavaScript is off: reload the page to update it.</p>'
        "</noscript><main>",
        _header(snap, title, status, links),
        '<div class="grid">',
        _checks(health, judged, links),
        _pool(health, links),
        _memory(health),
        _totals(system),
        _trends(snap.history),
        "</div>",
        _operations(snap.operations, sort),
        "</main>",
        _footer(links),
        f"</div><script>{JS}</script></body></html>",
    ]
    return "".join(parts)


def _icon(status: str) -> str:
    shape = status if status in STATUSES else "unknown"
    return f'<svg aria-hidden="true" focusable="false"><use href="#i-{shape}"/></svg>'


def _badge(status: str) -> str:
    return (
        f'<span class="badge st-{escape(status)}">{_icon(status)}'
        f'<span class="word">{escape(status)}</span></span>'
    )


def _header(snap: Snapshot, title: str, status: str, links: Links) -> str:
    health, system = snap.health, snap.system
    taken = health.get("timestamp") if health else None
    rows = [
        f"<span>version <strong>{escape(snap.version)}</strong></span>",
        f'<span>up <strong id="uptime">{escape(str(system["uptime"]))}</strong></span>',
    ]
    if taken:
        stamp = f'<time datetime="{escape(taken)}">{escape(taken)}</time>'
        rows.append(f"<span>health sampled {stamp}</span>")
    runbook = ""
    if status == "unhealthy":
        runbook = f' <a href="{escape(links.runbook(links.fallback_runbook))}">Runbook</a>'
    return (
        f'<header class="top"><h1>{escape(title)}</h1>'
        f'<span id="overall" class="overall">{_badge(status)}</span>{runbook}</header>'
        f'<p class="meta">{" · ".join(rows)}</p>'
    )


def _checks(health: Mapping[str, Any] | None, judged: Mapping[str, str], links: Links) -> str:
    head = _card("checks", "Checks")
    if health is None:
        return f'{head}<p class="empty">No health sample yet (or no health checker).</p></section>'
    checks = health.get("checks")
    if not checks:
        return f'{head}<p class="empty">Details are hidden from this caller.</p></section>'
    items = []
    for name, check in checks.items():
        state = check.get("status", "unknown")
        item = [
            f'<li id="check-{escape(name)}" class="check">{_badge(state)}'
            f'<span class="name">{escape(name)}</span>'
            f'<p class="reason">{escape(str(check.get("reason", "")))}</p>'
        ]
        if name in judged:
            item.append(f'<p class="judged">Judged against: {escape(judged[name])}</p>')
        details = check.get("details")
        if isinstance(details, Mapping) and details:  # what a check of the service found
            found = " · ".join(
                f"{escape(str(k).replace('_', ' '))} {escape(_plain(v))}"
                for k, v in details.items()
            )
            item.append(f'<p class="judged">{found}</p>')
        tags = []
        if check.get("critical") is False:
            tags.append('<span class="tag">not critical</span>')
        tags += [f'<span class="tag">{escape(g)}</span>' for g in check.get("groups", ())]
        if tags:
            item.append(f'<p class="tags">{"".join(tags)}</p>')
        if state != "healthy":
            anchor = links.runbooks.get(name, links.fallback_runbook)
            item.append(
                f'<p class="tags"><a href="{escape(links.runbook(anchor))}">'
                f"Runbook: {escape(anchor)}</a></p>"
            )
        items.append("".join(item) + "</li>")
    return f'{head}<ul class="checks">{"".join(items)}</ul></section>'


def _card(key: str, title: str) -> str:
    return (
        f'<section class="card" id="{key}" aria-labelledby="{key}-h">'
        f'<h2 id="{key}-h">{escape(title)}</h2>'
    )


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _bar(parts: Sequence[tuple[str, float]], marks: Sequence[float] = (), label: str = "") -> str:
    """A horizontal bar, ``parts`` as (class, fraction of the width) from the left."""
    out = [
        f'<svg class="bar" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(label)}"><rect class="track" width="1000" height="14"/>'
    ]
    x = 0.0
    for cls, fraction in parts:
        width = 1000 * max(0.0, min(fraction, 1.0 - x / 1000))
        out.append(f'<rect class="{cls}" x="{x:.1f}" width="{width:.1f}" height="14"/>')
        x += width
    for mark in marks:
        out.append(f'<line class="mark" x1="{1000 * mark:.1f}" x2="{1000 * mark:.1f}" y2="14"/>')
    return "".join(out) + "</svg>"


def _pool(health: Mapping[str, Any] | None, links: Links) -> str:
    head = _card("pool", "Database pool")
    db = (health or {}).get("database")
    if not db or db.get("status") == "not_configured" or "max_connections" not in db:
        text = "No database configured." if db else "No figures (no sample, or details hidden)."
        return f'{head}<p class="empty">{text}</p></section>'
    size, in_use, idle = db["open_connections"], db["in_use_connections"], db["idle_connections"]
    top, waiting = db["max_connections"], db["requests_waiting"]
    ping = db.get("ping_seconds")
    rows = [
        ("Status", _badge(db["status"])),
        ("In use", f"{in_use} of {top} max"),
        ("Idle", str(idle)),
        ("Open", f"{size} of {top} max"),
        (
            "Waiting",
            f'<span class="flag warn">{_icon("degraded")} {waiting}</span>' if waiting else "0",
        ),
        ("Ping", NA if ping is None else f"{ping * 1000:.3f} ms"),
    ]
    if db.get("error"):
        rows.append(("Error", escape(str(db["error"]))))
    bar = _bar(
        [("in", in_use / top if top else 0.0), ("idle", idle / top if top else 0.0)],
        label=f"{in_use} in use and {idle} idle of {top} connections",
    )
    alerts = []  # the conditions of the pool alerts, with their runbooks
    if waiting:
        text = "1 request waits" if waiting == 1 else f"{waiting} requests wait"
        alerts.append((f"{text} for a connection", "databasepoolrequestswaiting"))
    if top and in_use / top >= 0.9:
        alerts.append((f"{in_use} of {top} connections in use", "databasepoolsaturated"))
    notes = "".join(
        f'<p class="alert st-degraded">{_icon("degraded")} {escape(text)}: '
        f'<a href="{escape(links.runbook(anchor))}">runbook</a></p>'
        for text, anchor in alerts
    )
    legend = '<p class="legend">dark: in use · light: idle · track: up to the maximum</p>'
    return f"{head}{bar}{legend}{_kv(rows)}{notes}</section>"


def _memory(health: Mapping[str, Any] | None) -> str:
    head = _card("memory", "Memory")
    mem = (health or {}).get("memory")
    if not mem or "alloc_bytes" not in mem:
        return f'{head}<p class="empty">No figures (no sample, or details hidden).</p></section>'
    rss, degraded, unhealthy = mem["alloc_bytes"], mem["degraded_bytes"], mem["unhealthy_bytes"]
    state = "unhealthy" if rss >= unhealthy else "degraded" if rss >= degraded else "healthy"
    scale = max(unhealthy * 1.15, rss) or 1.0
    shape = {"healthy": "mem-ok", "degraded": "mem-degraded", "unhealthy": "mem-unhealthy"}[state]
    bar = _bar(
        [(shape, rss / scale)],
        marks=(degraded / scale, unhealthy / scale),
        label=f"resident {_mb(rss)}; degraded at {_mb(degraded)}, unhealthy at {_mb(unhealthy)}",
    )
    rows = [
        ("Resident", f"{_badge(state)} {_mb(rss)}"),
        ("Degraded at", _mb(degraded)),
        ("Unhealthy at", _mb(unhealthy)),
    ]
    if mem.get("limit_bytes"):
        rows.append(("Container limit", _mb(mem["limit_bytes"])))
    rows += [
        ("Threads", str(mem.get("threads"))),
        ("asyncio tasks", str(mem.get("asyncio_tasks"))),
        ("GC collections", str(mem.get("num_gc"))),
        ("Last GC", escape(str(mem.get("last_gc_time") or "–"))),
    ]
    legend = '<p class="legend">dashed marks: the degraded and unhealthy thresholds</p>'
    return f"{head}{bar}{legend}{_kv(rows)}</section>"


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def _totals(system: Mapping[str, Any]) -> str:
    rows = [(label, escape(_plain(system[k]))) for k, label in SYSTEM_FIELDS.items() if k in system]
    extras = [
        (escape(key.replace("_", " ").capitalize()), escape(_plain(value)))
        for key, value in system.items()
        if key not in SYSTEM_FIELDS and key not in HIDDEN_SYSTEM_FIELDS
    ]
    body = _kv(rows)
    if extras:
        body += '<h2 class="sub">Service</h2>' + _kv(extras)
    return f"{_card('totals', 'Since start')}{body}</section>"


def _plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return repr(value) if isinstance(value, float) else str(value)


# -- sparklines -------------------------------------------------------------------------------


_drawn: tuple[object, str] = (None, "")  # the last history drawn, and its drawing


def _trends(history: Sequence[Mapping[str, Any]]) -> str:
    """The ``/monitoring/history`` points as three sparklines (drawn again only when the
    history is a new one: snapshots of one history step share its very object)."""
    global _drawn
    last, drawn = _drawn
    if last is history:
        return drawn
    drawn = _draw_trends(history)
    _drawn = (history, drawn)
    return drawn


def _draw_trends(history: Sequence[Mapping[str, Any]]) -> str:
    head = _card("trends", "Last 30 minutes, all operations")
    if not history:
        return f'{head}<p class="empty">The first point comes one minute after start.</p></section>'
    charts = [
        _spark("Request rate", [p["rate"] for p in history], "ops/s", "rate"),
        _spark("Error rate", [p["error_rate"] for p in history], "%", "errors"),
        _spark("p95 latency", [p["p95_ms"] for p in history], "ms", "p95"),
    ]
    return f'{head}<div class="trends">{"".join(charts)}</div></section>'


def _spark(title: str, values: Sequence[float | None], unit: str, key: str) -> str:
    known = [v for v in values if v is not None]
    now, peak = values[-1], max(known, default=0.0)
    width, height = 300.0, 50.0
    step, scale = width / max(len(values) - 1, 1), (height - 4) / (peak or 1.0)
    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:  # no operation in that minute: a gap, not a zero
            runs.append([])
        else:
            runs[-1].append((i * step, height - 2 - v * scale))
    shapes = []
    for run in (r for r in runs if r):
        if len(run) == 1:  # a point alone: a short flat line, so that it shows
            x, y = run[0]
            run = [(max(x - 3, 0.0), y), (x + 3, y)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        shapes.append(
            f'<polygon class="area" points="{run[0][0]:.1f},{height:g} {points} '
            f'{run[-1][0]:.1f},{height:g}"/><polyline class="line" points="{points}"/>'
        )
    shown = "–" if now is None else f"{now!r} {unit}"
    summary = f"{title}: now {shown}, peak {peak!r} {unit} over {len(values)} minutes"
    return (
        f'<figure class="spark" id="spark-{key}"><h3>{title}</h3>'
        f'<div class="now">{shown}</div>'
        f'<svg viewBox="0 0 {width:g} {height:g}" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(summary)}">'
        f'<line class="base" x1="0" x2="{width:g}" y1="{height - 1:g}" y2="{height - 1:g}"/>'
        f"{''.join(shapes)}</svg>"
        f'<div class="axis"><span>{len(values)} min ago</span>'
        f'<span>peak <span class="peak">{peak!r}</span> {unit}</span><span>now</span></div>'
        "</figure>"
    )


# -- the operation table ----------------------------------------------------------------------


def _operations(operations: Mapping[str, Mapping[str, Any]], sort: Sort) -> str:
    rows = sort.apply(list(operations.values()))
    order = "descending" if sort.descending else "ascending"
    what = WORST_TEXT if sort.key == WORST else f"{_heading(BY_KEY[sort.key])}, {order}"
    worst = (
        ""
        if sort.key == WORST
        else f'<a href="?sort={WORST}" id="sort-{WORST}" data-sort>Worst first</a>'
    )
    head = (
        '<section class="ops" id="operations" aria-labelledby="ops-h"><div class="ops-head">'
        f'<h2 id="ops-h">Operations</h2><p id="sorted-by">{len(rows)} operations, sorted'
        f" {escape(what)}. Durations in milliseconds.</p>{worst}</div>"
    )
    if not rows:
        return f'{head}<p class="empty">No operation recorded yet.</p></section>'
    body = "".join(_row(op) for op in rows)
    return (
        f'{head}<p class="hint">The table scrolls sideways: windows and durations on the right.</p>'
        f'<div class="table-wrap" tabindex="0" role="region" aria-labelledby="ops-h">'
        f'<table id="ops-table"><thead>{_thead(sort)}</thead><tbody>{body}</tbody></table>'
        "</div></section>"
    )


def _heading(column: Column) -> str:
    return f"{column.group} {column.label}" if column.group else column.label


def _thead(sort: Sort) -> str:
    groups = ['<tr><th scope="col"></th><th colspan="4"></th>']
    groups += [
        f'<th colspan="4" scope="colgroup" class="grp">last {g[0]} min</th>' for g in ("1m", "5m")
    ]
    groups.append('<th colspan="3"></th></tr>')
    cells = []
    for column in COLUMNS:
        current = sort.key == column.key
        descending = not sort.descending if current else column.descending
        arrow = ""
        aria = ""
        if current:
            arrow = " ▼" if sort.descending else " ▲"
            aria = f' aria-sort="{"descending" if sort.descending else "ascending"}"'
        first = ' class="first"' if column.group and column.label == "Err %" else ""
        label = escape(column.label)
        hint = f"Sort by {_heading(column)}, {'descending' if descending else 'ascending'}"
        cells.append(
            f'<th scope="col"{aria}{first}><a id="sort-{column.key}" data-sort '
            f'href="?sort={column.key}&amp;dir={"desc" if descending else "asc"}" '
            f'title="{escape(hint)}">{label}<span aria-hidden="true">{arrow}</span></a></th>'
        )
    return "".join(groups) + "<tr>" + "".join(cells) + "</tr>"


def _row(op: Mapping[str, Any]) -> str:
    """One operation's cells, in ``COLUMNS`` order (written out: the page's hot loop at a
    few hundred operations; the tests read every cell back against its column's value)."""
    w1, w5 = op["window"]["1m"], op["window"]["5m"]
    name = escape(op["name"])
    css = ' class="failing"' if w5["error_count"] else ""
    return (
        f'<tr id="op-{name}"{css}><th scope="row" title="{name}">{name}</th>'
        f"<td>{op['count']:,}</td><td>{_errors(op['error_count'])}</td>"
        f"<td>{_percent(op['error_rate'])}</td><td>{_number(op['avg_duration_ms'])}</td>"
        f'<td class="first">{_percent(w1["error_rate"])}</td><td>{_number(w1["p50_ms"])}</td>'
        f"<td>{_number(w1['p95_ms'])}</td><td>{_number(w1['p99_ms'])}</td>"
        f'<td class="first">{_percent(w5["error_rate"])}</td><td>{_number(w5["p50_ms"])}</td>'
        f"<td>{_number(w5['p95_ms'])}</td><td>{_number(w5['p99_ms'])}</td>"
        f"<td>{_number(op['min_duration_ms'])}</td><td>{_number(op['max_duration_ms'])}</td>"
        f"<td>{_last_seen(op['last_recorded'])}</td></tr>"
    )


def _footer(links: Links) -> str:
    b = escape(links.base)
    items = [
        (escape(links.metrics), "Prometheus /metrics"),
        (f"{b}/health", "health JSON"),
        (f"{b}/metrics", "operations JSON"),
        (f"{b}/system", "system JSON"),
        (f"{b}/history", "history JSON"),
        (f"{b}/ready", "readiness"),
        (f"{b}/live", "liveness"),
        (escape(links.runbook("")).rstrip("#"), "runbooks"),
    ]
    lis = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in items)
    return f'<footer><nav aria-label="Endpoints"><ul>{lis}</ul></nav></footer>'
