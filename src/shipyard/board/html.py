"""The board as one self-contained HTML page: inline CSS and JS, nothing fetched from anywhere.

Every value from the config repository, Argo CD or ECR passes through :func:`esc` (text and attributes); links
are kept only for http(s) URLs. The colours come from :data:`PALETTE`, whose pairs a test checks for WCAG AA
contrast (4.5:1).
"""

from __future__ import annotations

import datetime as dt
import html
import json

from shipyard.board.view import MARKER_LABELS, CellView, Row, counts, rows
from shipyard.fleetview.fleet import MARKERS, Fleet

# name -> (foreground, background); every pair is used together in the CSS below.
PALETTE: dict[str, tuple[str, str]] = {
    "page": ("#1f2328", "#ffffff"),
    "muted": ("#57606a", "#ffffff"),
    "head": ("#ffffff", "#24292f"),
    "link": ("#0a58ca", "#ffffff"),
    "ok": ("#0f5132", "#d1e7dd"),
    "warn": ("#5c4503", "#fff3cd"),
    "bad": ("#842029", "#f8d7da"),
    "unknown": ("#41464b", "#e2e3e5"),
    "ok-link": ("#0a4fb5", "#d1e7dd"),
    "warn-link": ("#0a4fb5", "#fff3cd"),
    "bad-link": ("#0a4a9f", "#f8d7da"),
    "unknown-link": ("#0a4a9f", "#e2e3e5"),
    "focus": ("#0a58ca", "#ffffff"),
}
MARKER_TONE = {"degraded": "bad", "drift": "bad", "critical": "bad", "missing-image": "bad", "unreadable": "bad",
               "out-of-sync": "warn", "behind": "warn", "unknown": "unknown", "no-live-pod": "unknown",
               "no-app": "unknown"}
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")
ICONS = {"ok": "✓", "warn": "!", "bad": "✕", "unknown": "?"}


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def css() -> str:
    p = PALETTE
    return f"""
*{{box-sizing:border-box}}
body{{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:{p['page'][0]};background:{p['page'][1]}}}
header{{background:{p['head'][1]};color:{p['head'][0]};padding:12px 16px}}
header h1{{margin:0;font-size:20px}}
header p{{margin:4px 0 0}}
header a{{color:{p['head'][0]}}}
main{{padding:12px 16px}}
a{{color:{p['link'][0]}}}
.muted{{color:{p['muted'][0]}}}
.controls{{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:8px 0 12px}}
.controls label{{font-weight:600}}
input[type=search],select{{font:inherit;padding:4px 6px;border:1px solid #6e7781;border-radius:4px;
  color:{p['page'][0]};background:#fff}}
.legend{{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 8px;padding:0;list-style:none}}
.wrap{{position:relative;overflow-x:auto;border:1px solid #d0d7de;border-radius:6px}}
table{{border-collapse:separate;border-spacing:0;min-width:100%}}
caption{{text-align:left;padding:8px;font-weight:600}}
th,td{{border-bottom:1px solid #d0d7de;border-right:1px solid #d0d7de;padding:6px 8px;
  vertical-align:top;text-align:left}}
thead th{{position:sticky;top:0;background:{p['head'][1]};color:{p['head'][0]};z-index:2;white-space:nowrap}}
tbody th{{position:sticky;left:0;background:{p['page'][1]};z-index:1;white-space:nowrap}}
td{{min-width:150px}}
td.ok{{background:{p['ok'][1]};color:{p['ok'][0]}}} td.ok a{{color:{p['ok-link'][0]}}}
td.warn{{background:{p['warn'][1]};color:{p['warn'][0]}}} td.warn a{{color:{p['warn-link'][0]}}}
td.bad{{background:{p['bad'][1]};color:{p['bad'][0]}}} td.bad a{{color:{p['bad-link'][0]}}}
td.unknown{{background:{p['unknown'][1]};color:{p['unknown'][0]}}} td.unknown a{{color:{p['unknown-link'][0]}}}
td:focus,a:focus,summary:focus,input:focus,select:focus{{outline:3px solid {p['focus'][0]};outline-offset:-3px}}
.tag{{font-weight:700;word-break:break-all}}
code{{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}}
.state{{display:block;font-size:12px}}
ul.marks{{list-style:none;margin:4px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px}}
.m{{display:inline-block;border:1px solid currentColor;border-radius:10px;padding:0 6px;font-size:12px;font-weight:600}}
.m.ok{{background:{p['ok'][1]};color:{p['ok'][0]}}}
.m.warn{{background:{p['warn'][1]};color:{p['warn'][0]}}}
.m.bad{{background:{p['bad'][1]};color:{p['bad'][0]}}}
.m.unknown{{background:{p['unknown'][1]};color:{p['unknown'][0]}}}
.links{{font-size:12px;margin-top:4px}}
.links a{{margin-right:6px}}
details{{font-size:12px;margin-top:4px}}
details dl{{margin:4px 0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px}}
details dt{{font-weight:600}} details dd{{margin:0;word-break:break-all}}
.sr{{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip:rect(0 0 0 0);
  white-space:nowrap}}
tr[hidden],th[hidden],td[hidden]{{display:none}}
@media (max-width:600px){{main{{padding:8px}} td{{min-width:128px}} header h1{{font-size:18px}}}}
"""


JS = r"""
(function(){
  var table=document.getElementById('board');
  var q=document.getElementById('q'), mk=document.getElementById('marker'), env=document.getElementById('env');
  var only=document.getElementById('problems'), status=document.getElementById('shown');
  var rows=[].slice.call(table.tBodies[0].rows);
  function apply(){
    var text=q.value.trim().toLowerCase(), kind=mk.value, e=env.value, n=0;
    [].slice.call(table.querySelectorAll('[data-env]')).forEach(function(c){c.hidden=!!e&&c.getAttribute('data-env')!==e;});
    rows.forEach(function(r){
      var ok=(!text||r.getAttribute('data-search').indexOf(text)>=0);
      var cells=[].slice.call(r.querySelectorAll('td')).filter(function(c){return !c.hidden;});
      if(ok&&kind){ok=cells.some(function(c){
        return (' '+c.getAttribute('data-markers')+' ').indexOf(' '+kind+' ')>=0;});}
      if(ok&&only.checked){ok=cells.some(function(c){return c.getAttribute('data-problem')==='true';});}
      r.hidden=!ok; if(ok){n++;}
    });
    status.textContent='Showing '+n+' of '+rows.length+' services';
  }
  [q,mk,env,only].forEach(function(el){el.addEventListener('input',apply);el.addEventListener('change',apply);});
  function grid(){
    return rows.filter(function(r){return !r.hidden;}).map(function(r){
      return [].slice.call(r.querySelectorAll('td')).filter(function(c){return !c.hidden;});});
  }
  function focusCell(c){
    [].slice.call(table.querySelectorAll('td[tabindex="0"]')).forEach(function(o){o.setAttribute('tabindex','-1');});
    c.setAttribute('tabindex','0'); c.focus();
  }
  table.addEventListener('keydown',function(ev){
    var c=ev.target; if(c.tagName!=='TD'){return;}
    var g=grid(), r=-1, i=-1;
    g.forEach(function(row,ri){var k=row.indexOf(c); if(k>=0){r=ri;i=k;}});
    if(r<0){return;}
    var nr=r, ni=i;
    switch(ev.key){
      case 'ArrowRight': ni=Math.min(i+1,g[r].length-1); break;
      case 'ArrowLeft': ni=Math.max(i-1,0); break;
      case 'ArrowDown': nr=Math.min(r+1,g.length-1); break;
      case 'ArrowUp': nr=Math.max(r-1,0); break;
      case 'Home': ni=0; if(ev.ctrlKey){nr=0;} break;
      case 'End': ni=g[r].length-1; if(ev.ctrlKey){nr=g.length-1;} break;
      case 'Enter': var d=c.querySelector('details'); if(d){d.open=!d.open;} ev.preventDefault(); return;
      default: return;
    }
    ev.preventDefault();
    var t=g[nr][Math.min(ni,g[nr].length-1)]; if(t){focusCell(t);}
  });
  document.addEventListener('keydown',function(ev){
    if(ev.key==='/'&&document.activeElement!==q){ev.preventDefault();q.focus();}
  });
  apply();
  if(!table.querySelector('td[tabindex="0"]')){
    var g0=grid(); if(g0.length&&g0[0].length){g0[0][0].setAttribute('tabindex','0');}}
})();
"""


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _cell(c: CellView | None, env: str) -> str:
    if c is None:
        return f'<td data-env="{esc(env)}" data-markers="" data-problem="false" tabindex="-1" class="unknown">' \
               '<span class="muted">not deployed</span></td>'
    marks = "".join(
        f'<li class="m {MARKER_TONE.get(kind, "unknown")}" title="{esc(detail)}">'
        f'<span aria-hidden="true">{ICONS[MARKER_TONE.get(kind, "unknown")]} </span>{esc(label)}'
        f'<span class="sr">: {esc(detail)}</span></li>'
        for kind, label, detail in c.markers)
    links = " ".join(f'<a href="{esc(link.url)}" rel="noopener noreferrer">{esc(link.label)}</a>' for link in c.links)
    facts = [("digest", c.digest_full or "none"), ("state", c.state)]
    if c.set_at:
        facts.append(("set", _when(c.set_at)))
    if c.running:
        facts.append(("cluster runs", c.running))
    if c.pushed:
        facts.append(("pushed to ECR", f"{c.pushed} ago"))
    if c.scan:
        facts.append(("scan", c.scan))
    facts += [(label, detail) for _, label, detail in c.markers]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    age = f' <span class="age" title="since the commit that set it">{esc(c.age)}</span>' if c.age else ""
    return (
        f'<td data-env="{esc(env)}" data-markers="{esc(" ".join(c.kinds))}" data-problem="{str(c.problem).lower()}" '
        f'tabindex="-1" class="{esc(c.state_kind)}">'
        f'<span class="tag">{esc(c.tag or "(no tag)")}</span>{age}<br>'
        f'<code title="{esc(c.digest_full)}">{esc(c.digest or "no digest")}</code>'
        f'<span class="state"><span aria-hidden="true">{ICONS.get(c.state_kind, "?")} </span>{esc(c.state)}</span>'
        + (f'<ul class="marks" aria-label="markers">{marks}</ul>' if marks else "")
        + (f'<div class="links">{links}</div>' if links else "")
        + f"<details><summary>details</summary><dl>{dl}</dl></details></td>"
    )


def _row(row: Row, envs: list[str]) -> str:
    text = " ".join([row.service] + [f"{c.tag} {c.digest} {' '.join(c.kinds)}" for c in row.cells if c]).lower()
    cells = "".join(_cell(c, env) for c, env in zip(row.cells, envs, strict=True))
    return f'<tr data-search="{esc(text)}"><th scope="row">{esc(row.service)}</th>{cells}</tr>'


def render(fleet: Fleet, *, title: str, web: str, slug: str | None, repo_label: str, run_url: str = "") -> str:
    data = rows(fleet, web, slug)
    envs = [env for env, _ in fleet.columns]
    head = "".join(f'<th scope="col" data-env="{esc(env)}">{esc(env)}' + (f" / {esc(cl)}" if cl else "") + "</th>"
                   for env, cl in fleet.columns)
    tally = counts(fleet)
    legend = "".join(
        f'<li class="m {MARKER_TONE[k]}"><span aria-hidden="true">{ICONS[MARKER_TONE[k]]} </span>'
        f'{esc(MARKER_LABELS[k])}: {tally.get(k, 0)}</li>' for k in MARKERS if tally.get(k))
    options = "".join(f'<option value="{esc(k)}">{esc(MARKER_LABELS[k])} ({tally[k]})</option>'
                      for k in MARKERS if tally.get(k))
    env_options = "".join(f'<option value="{esc(e)}">{esc(e)}</option>' for e in fleet.environments())
    argo_note = {"ok": "Argo CD read", "off": "Argo CD not configured: cluster state unknown",
                 }.get(fleet.argo.state, f"Argo CD unreachable: cluster state unknown ({fleet.argo.detail})")
    ecr_note = {"ok": "ECR read", "off": "ECR not configured"}.get(fleet.registry.state,
                                                                  f"ECR not read ({fleet.registry.detail})")
    tip_url = f"{web}/{slug}/commit/{fleet.tip}" if slug else ""
    tip = f'<a href="{esc(tip_url)}">{esc(fleet.tip[:12])}</a>' if tip_url.startswith(("https://", "http://")) else \
        esc(fleet.tip[:12])
    run = f' · <a href="{esc(run_url)}">run</a>' if run_url.startswith(("https://", "http://")) else ""
    meta = json.dumps({"services": len(fleet.services), "columns": len(fleet.columns), "tip": fleet.tip,
                       "argo": fleet.argo.state, "ecr": fleet.registry.state, "generated": int(fleet.now)})
    meta = meta.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<title>{esc(title)}</title>
<style>{css()}</style>
</head>
<body>
<header>
<h1>{esc(title)}</h1>
<p>{esc(repo_label)} @ {tip} ({esc(fleet.branch)}) · generated {esc(_when(fleet.now))} ·
{esc(argo_note)} · {esc(ecr_note)}{run}</p>
</header>
<main>
<div class="controls" role="search">
<label for="q">Search</label><input id="q" type="search" placeholder="service, tag or digest" autocomplete="off">
<label for="marker">Marker</label><select id="marker"><option value="">all</option>{options}</select>
<label for="env">Environment</label><select id="env"><option value="">all</option>{env_options}</select>
<label><input id="problems" type="checkbox"> problems only</label>
<span id="shown" role="status" aria-live="polite"></span>
</div>
<ul class="legend" aria-label="marker counts">{legend}</ul>
<p class="muted">Arrow keys move between cells, Enter opens a cell's details, / jumps to the search.
{esc(fleet.target_env)} is compared with {esc(fleet.source_env)}: "behind" counts the builds
{esc(fleet.source_env)} got since {esc(fleet.target_env)}'s image.</p>
<div class="wrap">
<table id="board">
<caption>{len(fleet.services)} services &times; {len(fleet.columns)} environments/clusters</caption>
<thead><tr><th scope="col">service</th>{head}</tr></thead>
<tbody>
{"".join(_row(r, envs) for r in data)}
</tbody>
</table>
</div>
</main>
<script type="application/json" id="board-meta">{meta}</script>
<script>{JS}</script>
</body>
</html>
"""
