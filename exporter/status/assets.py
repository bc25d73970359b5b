"""The status page's style, script and icons, as Python strings: no files to ship or serve,
no build step, no CDN. The page inlines them and its Content-Security-Policy allows exactly
these two blocks by their SHA-256 hashes (no ``'unsafe-inline'``, no nonce to generate).

The page never uses a ``style`` attribute (a strict CSP blocks those too): sizes and colours
of the SVG bars and sparklines are presentation attributes or classes.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{color-scheme:light dark;--bg:#f5f6f8;--fg:#1c2128;--muted:#57606a;--card:#fff;
--line:#d0d7de;--accent:#0a58b7;--ok:#1a7f37;--warn:#8a5a00;--bad:#cf222e;--unk:#57606a;
--ok-bg:#e6f6ea;--warn-bg:#fff5d6;--bad-bg:#ffebe9;--unk-bg:#eef0f3;--fill:#0a58b71f;
--bar-in:#0a58b7;--bar-idle:#8fb8e8;--glyph:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;
--card:#161b22;--line:#30363d;--accent:#58a6ff;--ok:#3fb950;--warn:#d29922;--bad:#f85149;
--unk:#8b949e;--ok-bg:#12261a;--warn-bg:#2a2010;--bad-bg:#35151a;--unk-bg:#1f242b;
--fill:#58a6ff26;--bar-in:#58a6ff;--bar-idle:#2f5f99;--glyph:#0d1117}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
.wrap{max-width:1760px;margin:0 auto;padding:16px}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--accent);
outline-offset:2px;border-radius:3px}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px}
h1{font-size:1.35rem;margin:0;overflow-wrap:anywhere}
h2{font-size:1rem;margin:0 0 10px}
.meta{color:var(--muted);margin:4px 0 0;font-size:.92rem}
.meta span{white-space:nowrap}
.badge{display:inline-flex;align-items:center;gap:.4em;padding:.2em .7em .2em .45em;
border-radius:999px;font-weight:650;border:1.5px solid currentColor;white-space:nowrap}
.badge svg{width:1.05em;height:1.05em;flex:none}
.overall{font-size:1.3rem}
.st-healthy{color:var(--ok);background:var(--ok-bg)}
.st-degraded{color:var(--warn);background:var(--warn-bg)}
.st-unhealthy{color:var(--bad);background:var(--bad-bg)}
.st-unknown,.st-not_configured{color:var(--unk);background:var(--unk-bg)}
.glyph{stroke:var(--glyph)}
.live{display:flex;flex-wrap:wrap;justify-content:flex-end;align-items:center;gap:4px 10px;
min-height:0;font-size:.85rem;color:var(--muted)}
#live{font:inherit;padding:3px 10px;border-radius:6px;border:1px solid var(--line);
background:var(--card);color:var(--fg);cursor:pointer}
.grid{display:grid;gap:16px;margin:16px 0;
grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;
min-width:0}
.checks{list-style:none;margin:0;padding:0}
.checks li{padding:8px 0;border-top:1px solid var(--line)}
.checks li:first-child{border-top:0;padding-top:0}
.checks .name{font-weight:650;margin-left:.35em}
.reason{margin:3px 0 0;overflow-wrap:anywhere}
.judged,.tags{margin:2px 0 0;color:var(--muted);font-size:.88rem}
.tag{border:1px solid var(--line);border-radius:4px;padding:0 5px;margin-right:4px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:0}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.bar{display:block;width:100%;height:14px;margin:4px 0 10px;border-radius:3px}
.bar .track{fill:var(--line)}
.bar .in{fill:var(--bar-in)}
.bar .idle{fill:var(--bar-idle)}
.bar .mem-ok{fill:var(--ok)}
.bar .mem-degraded{fill:var(--warn)}
.bar .mem-unhealthy{fill:var(--bad)}
.bar .mark{stroke:var(--fg);stroke-width:2;stroke-dasharray:2 1}
.legend{color:var(--muted);font-size:.85rem;margin:-6px 0 8px}
.alert{margin:8px 0 0;padding:6px 8px;border-radius:6px;border:1px solid currentColor}
.alert svg,.flag svg{width:1em;height:1em;vertical-align:-.15em}
@media (min-width:1000px){#trends{grid-column:span 2}}
.trends{display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(min(100%,170px),1fr))}
.spark{margin:0;min-width:0}
.spark h3{font-size:.92rem;margin:0;font-weight:600}
.spark .now{font-size:1.25rem;font-weight:650;font-variant-numeric:tabular-nums}
.spark svg{display:block;width:100%;height:52px;margin:4px 0 2px}
.spark .line{fill:none;stroke:var(--accent);stroke-width:2;vector-effect:non-scaling-stroke;
stroke-linejoin:round}
.spark .area{fill:var(--fill)}
.spark .base{stroke:var(--line);stroke-width:1;vector-effect:non-scaling-stroke}
.spark .axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.8rem}
.empty{color:var(--muted);margin:0}
.ops{margin:16px 0}
.ops-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;margin-bottom:8px}
.ops-head h2{margin:0}
.ops-head p{margin:0;color:var(--muted);font-size:.88rem}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px;background:var(--card)}
table{border-collapse:collapse;width:100%;font-size:.84rem;font-variant-numeric:tabular-nums}
th,td{padding:6px 6px;text-align:right;white-space:nowrap;border-bottom:1px solid var(--line)}
tbody tr:last-child>*{border-bottom:0}
th{font-weight:600;vertical-align:bottom}
thead tr:first-child th{color:var(--muted);font-weight:500;font-size:.8rem;border-bottom:0;
padding-bottom:0}
th.grp{text-align:center;border-left:1px solid var(--line)}
td.first,th.first{border-left:1px solid var(--line)}
th:first-child,td:first-child{text-align:left;position:sticky;left:0;background:var(--card);
z-index:1;max-width:46vw;overflow:hidden;text-overflow:ellipsis}
th a{color:inherit;text-decoration:none;padding:2px 3px;display:inline-block}
th a:hover{text-decoration:underline}
th[aria-sort] a{color:var(--accent);text-decoration:underline}
tr.failing td{background:var(--bad-bg)}
tr.failing th{box-shadow:inset 4px 0 var(--bad);background:var(--bad-bg)}
.flag{color:var(--bad);font-weight:650}
.flag.warn{color:var(--warn)}
td .flag svg{width:.85em;height:.85em}
h2.sub{margin-top:14px}
.na{color:var(--muted)}
footer{margin:24px 0 8px;color:var(--muted);font-size:.9rem}
footer ul{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;padding:0;margin:6px 0 0}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.hint{display:none;margin:0 0 6px;color:var(--muted);font-size:.85rem}
@media (max-width:1100px){.hint{display:block}}
@media (max-width:600px){.wrap{padding:10px}.overall{font-size:1.1rem}th,td{padding:5px 7px}}
""".strip()

# Progressive enhancement only: without it the page is complete (server-rendered, sortable by
# links). With it: the page replaces its <main> with a fresh render every data-refresh
# seconds and on a sort link, keeping the focused element (by id) and the URL's sort.
JS = """
(() => {
  const every = Number(document.body.dataset.refresh || 0) * 1000;
  const button = document.getElementById('live');
  const note = document.getElementById('live-note');
  const announce = document.getElementById('announce');
  const overall = () => (document.getElementById('overall') || {}).textContent;
  let timer = null;
  let paused = false;

  async function load(url, remember) {
    const response = await fetch(url, {headers: {Accept: 'text/html'}, cache: 'no-store'});
    if (!(response.headers.get('content-type') || '').startsWith('text/html')) {
      throw new Error('HTTP ' + response.status);
    }
    const text = await response.text();
    if (paused && !remember) return;  // paused while this refresh was under way
    const page = new DOMParser().parseFromString(text, 'text/html');
    const fresh = page.querySelector('main');
    if (!fresh) throw new Error('no <main> in the answer');
    const focused = document.activeElement && document.activeElement.id;
    const before = overall();
    document.querySelector('main').replaceWith(document.adoptNode(fresh));
    // Say it aloud only when the verdict changes, not on every refresh.
    if (overall() !== before) announce.textContent = 'Status now ' + overall();
    document.title = page.title;
    const icon = page.querySelector('link[rel=icon]');
    if (icon) document.querySelector('link[rel=icon]').href = icon.href;
    if (remember) history.replaceState(null, '', url);
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
    note.textContent = 'Updated ' + new Date().toLocaleTimeString();
  }

  function schedule() {
    clearTimeout(timer);
    if (every > 0 && !paused) timer = setTimeout(tick, every);
  }

  async function tick() {
    try {
      await load(location.href, false);
    } catch (error) {
      note.textContent = 'Refresh failed at ' + new Date().toLocaleTimeString() +
        ' (' + error.message + '): the figures are older; retrying';
    }
    schedule();
  }

  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-sort]');
    if (!link || event.button || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    load(link.href, true).then(schedule, () => { location.href = link.href; });
  });

  if (every > 0) {
    button.hidden = false;
    note.textContent = 'Refreshing every ' + every / 1000 + ' s';
    button.addEventListener('click', () => {
      paused = !paused;
      button.textContent = paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
      button.setAttribute('aria-pressed', String(paused));
      note.textContent = paused ? 'Auto-refresh paused' : 'Refreshing every ' + every / 1000 + ' s';
      schedule();
    });
    schedule();
  }
})();
""".strip()

# One shape per status, so the status never rests on colour alone: a disc with a tick, a
# triangle with "!", an octagon with a cross, an empty circle with "?".
ICONS = (
    '<svg class="sprite" width="0" height="0" aria-hidden="true" focusable="false">'
    '<symbol id="i-healthy" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7.5" '
    'fill="currentColor"/><path class="glyph" d="M4.4 8.3l2.4 2.4 4.8-5" fill="none" '
    'stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"/></symbol>'
    '<symbol id="i-degraded" viewBox="0 0 16 16"><path d="M8 .6l7.6 14.2H.4z" '
    'fill="currentColor" stroke-linejoin="round"/><path class="glyph" d="M8 5.4v4.4M8 11.9v.4" '
    'stroke-width="1.9" stroke-linecap="round"/></symbol>'
    '<symbol id="i-unhealthy" viewBox="0 0 16 16"><path d="M4.9.5h6.2l4.4 4.4v6.2l-4.4 4.4H4.9'
    'L.5 11.1V4.9z" fill="currentColor"/><path class="glyph" d="M5.3 5.3l5.4 5.4m0-5.4-5.4 5.4" '
    'stroke-width="1.9" stroke-linecap="round"/></symbol>'
    '<symbol id="i-unknown" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6.8" fill="none" '
    'stroke="currentColor" stroke-width="1.6"/><path d="M6 6.3a2 2 0 1 1 2.9 1.8c-.6.3-.9.7'
    '-.9 1.3v.3M8 11.7v.3" fill="none" stroke="currentColor" stroke-width="1.7" '
    'stroke-linecap="round"/></symbol></svg>'
)

# The tab's icon: a dot in the status's colour (the title says the status in words).
FAVICON_COLOURS = {"healthy": "1a7f37", "degraded": "bf8700", "unhealthy": "cf222e"}


def favicon(status: str) -> str:
    colour = FAVICON_COLOURS.get(status, "6e7781")
    return (
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
        f"%3Ccircle cx='8' cy='8' r='7' fill='%23{colour}'/%3E%3C/svg%3E"
    )


def csp_hash(text: str) -> str:
    """The CSP source expression that allows an inline block with exactly ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src {csp_hash(CSS)}; "
    f"script-src {csp_hash(JS)}; "
    "img-src data:; "
    "connect-src 'self'; "
    "base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'none'"
)
