"""The protocol page as HTML (pure: a ``PageModel`` in, text out). Every value is escaped; the
page loads nothing from elsewhere: its style and script are served by the page itself."""

from __future__ import annotations

import html

from datetime import datetime, timezone
from html import escape

from streams.ui.model import PageModel, Progress, Stage
from streams.ui.plots import svg

STATE_TEXT = {"ok": "ok", "behind": "behind", "down": "down", "unknown": "unknown"}


def _time(ms: int | float | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _stage(stage: Stage) -> str:
    lag = "" if stage.lag is None else f'<div class="lag">lag <b>{stage.lag:,}</b></div>'
    return (f'<div class="stage {stage.state}" data-stage="{escape(stage.key)}" data-state="{stage.state}"'
            f'{"" if stage.lag is None else f" data-lag={stage.lag}"}>'
            f'<div class="name">{escape(stage.name)}</div><div class="state">{STATE_TEXT[stage.state]}</div>'
            f'{lag}<div class="detail">{escape(stage.detail)}</div></div>')


def _progress(p: Progress) -> str:
    bar = (f'<progress value="{p.done}" max="{p.total}"></progress>' if p.total else "")
    rate = f"{p.rate_per_s:,.1f}/s" if p.rate_per_s is not None else "rate: measuring"
    total = f" of {p.total:,}" if p.total is not None else ""
    return (f'<li data-job="{escape(p.job)}"><b>{escape(p.job)}</b> {bar} {p.done:,}{total} {escape(p.unit)}, '
            f'{rate}, time left: {duration(p.eta_s)}</li>')


def fragment(page: PageModel) -> str:
    """The part of the page that refreshes itself."""
    out: list[str] = [f'<p class="meta">casavi <b>{escape(page.system)}</b> system — as of '
                      f'<span data-generated="{page.generated_at:.0f}">{_time(page.generated_at * 1000)} UTC</span></p>']
    if page.problems:
        out.append('<ul class="problems">' + "".join(f"<li>{escape(p)}</li>" for p in page.problems) + "</ul>")

    out.append('<section><h2>Pipeline</h2><div class="pipeline">')
    out.append('<span class="arrow">→</span>'.join(_stage(s) for s in page.stages))
    out.append("</div></section>")

    if page.progress:
        out.append('<section><h2>Long work</h2><ul class="progress">'
                   + "".join(_progress(p) for p in page.progress) + "</ul></section>")

    out.append('<section><h2>casavi entities</h2><table class="entities"><thead><tr><th rowspan="2">entity</th>'
               '<th colspan="2">commands</th><th colspan="2">applied</th><th colspan="2">failed</th></tr>'
               '<tr><th>hour</th><th>day</th><th>hour</th><th>day</th><th>hour</th><th>day</th></tr></thead><tbody>')
    for e in page.entities:
        out.append(f'<tr data-entity="{escape(e.entity)}" data-commands-day="{e.commands_day}" '
                   f'data-applied-day="{e.applied_day}" data-failed-day="{e.failed_day}"><td>{escape(e.entity)}</td>'
                   f'<td>{e.commands_hour:,}</td><td>{e.commands_day:,}</td><td>{e.applied_hour:,}</td>'
                   f'<td>{e.applied_day:,}</td><td class="{"bad" if e.failed_hour else ""}">{e.failed_hour:,}</td>'
                   f'<td class="{"bad" if e.failed_day else ""}">{e.failed_day:,}</td></tr>')
    out.append(f'</tbody></table><p class="note">commands written to {escape(page.topics["commands"])}; applied and '
               f'failed as the sink reported them on {escape(page.topics["receipts"])}.</p></section>')

    if page.plots:
        out.append('<section><h2>Last hour</h2><div class="plots">'
                   + "".join(f'<figure><figcaption>{escape(p.title)}</figcaption>{svg(p)}</figure>' for p in page.plots)
                   + "</div></section>")

    letters = page.letters
    out.append(f'<section><h2>Dead letters</h2><p data-letters-total="{letters.total}">{letters.total:,} in '
               f'{escape(page.topics["dlq"])} since {_time(letters.since_ms)} UTC ({letters.last_hour:,} in the '
               f'last hour, {letters.last_day:,} in the last day)'
               + (f"; {letters.unreadable:,} records that are not dead letters" if letters.unreadable else "")
               + "</p>")
    if letters.groups:
        out.append('<table class="letters"><thead><tr><th>count</th><th>stage</th><th>reason</th><th>first</th>'
                   '<th>last</th><th>newest name</th><th>command</th></tr></thead><tbody>')
        for g in letters.groups:
            copy = (f'<code>{escape(g.command)}</code> <button type="button" data-copy="{escape(g.command)}">copy'
                    f'</button>' if g.command else "")
            out.append(f'<tr data-reason="{escape(g.reason)}" data-letter-stage="{escape(g.stage)}" '
                       f'data-count="{g.count}"><td>{g.count:,}</td>'
                       f'<td>{escape(g.stage)}</td><td>{escape(g.reason)}</td><td>{_time(g.first_ms)}</td>'
                       f'<td>{_time(g.last_ms)}</td><td>{escape(", ".join(g.latest))}</td><td>{copy}</td></tr>')
        out.append('</tbody></table><p class="note">Fix the cause first: a redrive sends the named entities again '
                   'from the current ERP state. Letters naming a CDC record are read again with the row\'s next '
                   'change.</p>')
    out.append("</section>")

    out.append("<section><h2>Last reconcile</h2>")
    r = page.reconcile
    if r is None:
        out.append("<p>No reconcile has run yet (<code>bridge reconcile</code>; the sink runs one every "
                   "<code>BRIDGE_RECONCILE__INTERVAL_H</code> hours).</p>")
    else:
        repaired = ("dry run, nothing repaired" if r.dry_run or r.repairs is None else
                    ", ".join(f"{k} {v:,}" for k, v in r.repairs.items()))
        out.append(f'<p data-reconcile-at="{r.at:.0f}">{_time(r.at * 1000)} UTC, {escape(r.system)} system, '
                   f'{r.requests:,} requests in {duration(r.seconds)}: {r.missing:,} missing, {r.different:,} '
                   f'different, {r.extra:,} extra ({r.persisting:,} persisting) — {escape(repaired)}</p>')
        out.append('<table class="reconcile"><thead><tr><th>entity</th><th>expected</th><th>in casavi</th>'
                   '<th>missing</th><th>different</th><th>extra</th></tr></thead><tbody>')
        for entity, c in r.counts.items():
            out.append(f"<tr><td>{escape(entity)}</td><td>{c.get('expected', 0):,}</td><td>{c.get('observed', 0):,}"
                       f"</td><td>{c.get('missing', 0):,}</td><td>{c.get('different', 0):,}</td>"
                       f"<td>{c.get('extra', 0):,}</td></tr>")
        out.append("</tbody></table>")
        if r.examples:
            out.append(f'<p class="note">first drifted: {escape(", ".join(r.examples))}</p>')
    out.append("</section>")

    out.append("<section><h2>Data quality</h2>")
    q = page.quality
    if q is None:
        out.append("<p>No report yet: the running worker writes it.</p>")
    else:
        counts = ", ".join(f"{rule} {n:,}" for rule, n in q.counts.items()) or "none"
        cases = "case" if q.total == 1 else "cases"
        out.append(f'<p data-quality-total="{q.total}" data-quality-at="{q.generated_at:.3f}">{q.total:,} {cases} '
                   f'({escape(counts)}) as of '
                   f'{_time(q.generated_at * 1000)} UTC</p>')
        if q.lines:
            out.append('<ul class="quality">' + "".join(f"<li>{escape(line)}</li>" for line in q.lines) + "</ul>")
            if q.total > len(q.lines):
                out.append(f'<p class="note">the first {len(q.lines)}; all: <code>bridge report quality</code></p>')
    out.append("</section>")

    out.append("<section><h2>Kafka Connect</h2>")
    if page.connectors:
        out.append('<table class="connectors"><thead><tr><th>connector</th><th>state</th><th>tasks</th></tr></thead>'
                   "<tbody>")
        for conn in page.connectors:
            out.append(f'<tr data-connector="{escape(conn.name)}"><td>{escape(conn.name)}</td>'
                       f'<td>{escape(conn.state)}</td><td>{escape(", ".join(conn.tasks) or "no tasks")}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>No connector state (Kafka Connect not answering, or no connector registered).</p>")
    out.append("</section>")
    return "".join(out)


WAITING = '<p class="meta">gathering the first figures …</p>'


# "Why is this tenant (not) in the portal?": bridge explain as a search (GET /explain)
SEARCH = ('<form class="search" method="get" action="explain"><select name="entity">'
          + "".join(f'<option>{e}</option>' for e in ("contact", "contract", "unit", "property", "staff"))
          + '</select><input name="key" placeholder="ERP number or reference id" required>'
          '<button>explain</button></form>')


def explanation(entity: str, key: str, text: str) -> str:
    """The page of one explanation (``bridge explain`` rendered as text, escaped)."""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>casavi bridge — explain {html.escape(entity)} {html.escape(key)}</title>"
        "<link rel=\"stylesheet\" href=\"page.css\"></head>"
        f'<body><header><h1><a href="./">casavi bridge — protocol</a></h1>{SEARCH}</header>'
        f"<main><pre>{html.escape(text)}</pre></main></body></html>"
    )


def document(body: str, refresh_s: float) -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>casavi bridge — protocol</title><link rel=\"stylesheet\" href=\"page.css\"></head>"
        f'<body data-refresh-ms="{int(refresh_s * 1000)}"><header><h1>casavi bridge — protocol</h1>'
        '<span id="freshness"></span>' + SEARCH + '</header>'
        f'<main id="page">{body}</main><script src="page.js"></script></body></html>'
    )


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222;background:#fafafa}
header{display:flex;align-items:baseline;gap:1em}h1{font-size:20px;margin:.6em 0}
h2{font-size:16px;margin:1.2em 0 .4em;border-bottom:1px solid #ddd}
#freshness{color:#888;font-size:12px}.search{margin-left:auto}#freshness.stale{color:#b00}
.meta{color:#555}.note{color:#666;font-size:12px}
.problems{background:#fee;border:1px solid #e99;padding:.5em 2em}
.pipeline{display:flex;align-items:stretch;gap:.3em;flex-wrap:wrap}
.arrow{align-self:center;font-size:20px;color:#888}
.stage{flex:1 1 0;border:2px solid #999;border-radius:6px;padding:.4em .6em;min-width:8em;background:#fff}
.stage .name{font-weight:600}.stage .state{text-transform:uppercase;font-size:11px;font-weight:700}
.stage .detail{font-size:12px;color:#555}.stage .lag{font-size:13px}
.stage.ok{border-color:#2a2}.stage.ok .state{color:#2a2}
.stage.behind{border-color:#d90}.stage.behind .state{color:#d90}
.stage.down{border-color:#c22}.stage.down .state{color:#c22}
.stage.unknown{border-color:#aaa}.stage.unknown .state{color:#888}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.2em .6em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
table.letters td{text-align:left}td.bad{color:#c22;font-weight:600}
code{background:#f3f3f3;padding:0 .3em}button{font-size:12px}
.plots{display:flex;gap:1.5em;flex-wrap:wrap}figure{margin:0}figcaption{font-size:13px;color:#444}
progress{width:14em}
"""

JS = """
(function () {
  const page = document.getElementById('page');
  const freshness = document.getElementById('freshness');
  const every = Number(document.body.dataset.refreshMs) || 2000;
  let last = Date.now();
  async function refresh() {
    try {
      const response = await fetch('fragment', {credentials: 'same-origin', cache: 'no-store'});
      if (!response.ok) throw new Error(String(response.status));
      page.innerHTML = await response.text();
      last = Date.now();
      freshness.className = '';
      freshness.textContent = 'updates itself every ' + Math.round(every / 1000) + ' s';
    } catch (err) {
      freshness.className = 'stale';
      freshness.textContent = 'not updated for ' + Math.round((Date.now() - last) / 1000) + ' s';
    }
  }
  document.addEventListener('click', function (event) {
    const button = event.target.closest('button[data-copy]');
    if (!button) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      button.textContent = 'copied';
      setTimeout(function () { button.textContent = 'copy'; }, 1500);
    });
  });
  refresh();
  setInterval(refresh, every);
})();
"""
