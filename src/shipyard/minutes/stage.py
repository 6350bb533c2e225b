"""``minutes-guard``: the organisation's Actions minutes of the month, where they went, when they run out, what
is wasted; Slack alerts once per threshold; optional routing to self-hosted runners before the wall.

Order: validate every input -> usage of record (fails fast on a missing permission) -> incremental scan (state
saved as it goes) -> attribution, reconciliation, forecast, waste -> alerts and routing (only on a complete
scan) -> report and outputs.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.runtime import Action, TransientError, UserError

if TYPE_CHECKING:
    from shipyard.minutes.github import GitHubApi
    from shipyard.minutes.report import Report
    from shipyard.minutes.scan import ScanResult
    from shipyard.minutes.state import State
    from shipyard.minutes.usage import UsageOfRecord

PLANS = {"free": 2000, "team": 3000, "enterprise": 50000}
ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
REPO = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,38}/)?[A-Za-z0-9._-]{1,100}")
MONTH = re.compile(r"20\d\d-(0[1-9]|1[0-2])")
VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]{0,99}")
CHANNEL = re.compile(r"#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,20}")
CHECKPOINT_SECONDS = 20.0


def _as_of(action: Action) -> datetime:
    raw = action.input("as-of")
    if raw is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"Input 'as-of' must be an ISO 8601 time, got '{raw}'.",
                        "write e.g. `2026-11-29T06:00:00Z`, or leave it empty for now.", input_name="as-of")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _api_url(action: Action) -> str:
    url = action.input("github-api-url") or action.env.get("GITHUB_API_URL") or "https://api.github.com"
    if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", url):
        raise UserError(f"Input 'github-api-url' is not an http(s) URL: '{url}'.",
                        "use e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.",
                        input_name="github-api-url")
    return url.rstrip("/")


class Inputs:
    def __init__(self, action: Action) -> None:
        from shipyard.minutes.jobs import LABEL, sku_table

        self.token = action.secret("github-token", required=True) or ""
        self.org = action.input("organization") or action.env.get("GITHUB_REPOSITORY_OWNER") or ""
        if not ORG.fullmatch(self.org):
            raise UserError(f"Input 'organization' is not an organisation login: '{self.org}'.",
                            "set `organization:` to the organisation's login (e.g. acme).", input_name="organization")
        self.api_url = _api_url(action)
        self.plan = action.choice("plan", list(PLANS), "free")
        self.included = float(action.integer("included-minutes", PLANS[self.plan], minimum=0))
        self.budget = float(action.integer("budget-minutes", int(self.included), minimum=0))
        thresholds = []
        for item in action.items("thresholds") or ["50", "75", "90", "100"]:
            if not re.fullmatch(r"[1-9][0-9]{0,3}", item.rstrip("%")):
                raise UserError(f"Input 'thresholds' has a bad value '{item}'.",
                                "give percentages of the included minutes, e.g. `50,75,90,100`.",
                                input_name="thresholds")
            thresholds.append(int(item.rstrip("%")))
        self.thresholds = sorted(set(thresholds))
        self.table = sku_table(action.mapping("runner-skus"), action.mapping("multipliers"))
        self.repositories = action.items("repositories")
        for repo in self.repositories:
            if not REPO.fullmatch(repo):
                raise UserError(f"Input 'repositories' has a bad name '{repo}'.", "write `name` or `owner/name`.",
                                input_name="repositories")
        self.rerun_window = action.integer("rerun-window-days", 3, minimum=0, maximum=31)
        workspace = action.env.get("GITHUB_WORKSPACE") or "."
        state = action.input("state-file") or ".shipyard-minutes/state.json"
        self.state_file = Path(state) if Path(state).is_absolute() else Path(workspace) / state
        self.as_of = _as_of(action)
        self.month = action.input("month") or self.as_of.strftime("%Y-%m")
        if not MONTH.fullmatch(self.month):
            raise UserError(f"Input 'month' must be YYYY-MM, got '{self.month}'.", "write e.g. `2026-11`.",
                            input_name="month")
        if self.month > self.as_of.strftime("%Y-%m"):
            raise UserError(f"Input 'month' ({self.month}) is after 'as-of' ({self.as_of:%Y-%m-%d}).",
                            "leave `month` empty for the current month.", input_name="month")
        self.slack_token = action.secret("slack-token")
        self.slack_channel = action.input("slack-channel") or ""
        if self.slack_channel and not CHANNEL.fullmatch(self.slack_channel):
            raise UserError(f"Input 'slack-channel' is not a channel: '{self.slack_channel}'.",
                            "use the channel ID (C0123ABCD) or its name (#deploys).", input_name="slack-channel")
        self.slack_api_url = action.input("slack-api-url") or action.env.get("SHIPYARD_SLACK_API_URL") or ""
        if self.slack_api_url and not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", self.slack_api_url):
            raise UserError(f"Input 'slack-api-url' is not an http(s) URL: '{self.slack_api_url}'.",
                            "leave it empty for Slack's API.", input_name="slack-api-url")
        self.routing_file = action.input("routing-file") or ""
        for name, value in (("routing-file", self.routing_file), ("state-file", state)):
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise UserError(f"Input '{name}' holds a control character.", "give a plain relative path.",
                                input_name=name)
        self.route = action.boolean("route-runners", False)
        self.variable = action.input("runner-variable") or "SHIPYARD_RUNS_ON"
        if not VARIABLE.fullmatch(self.variable):
            raise UserError(f"Input 'runner-variable' is not a variable name: '{self.variable}'.",
                            "use upper-case letters, digits and _ (e.g. SHIPYARD_RUNS_ON).",
                            input_name="runner-variable")
        self.self_hosted = action.items("self-hosted-labels")
        self.hosted = action.items("hosted-labels") or ["ubuntu-latest"]
        for name, labels in (("self-hosted-labels", self.self_hosted), ("hosted-labels", self.hosted)):
            for label in labels:
                if not LABEL.fullmatch(label):
                    raise UserError(f"Input '{name}' has '{label}', which is not a runner label.",
                                    "use labels like `arc-runners`, one per line or comma-separated.",
                                    input_name=name)
        if self.route and not self.self_hosted:
            raise UserError("Input 'route-runners' is on but 'self-hosted-labels' is empty.",
                            "set `self-hosted-labels:` to the scale set's labels (e.g. `arc-runners`).",
                            input_name="self-hosted-labels")
        self.format = action.choice("format", ["markdown", "json"], "markdown")
        self.timeout = action.integer("timeout", 900, minimum=10, maximum=6 * 3600)
        self.dry_run = action.dry_run
        if self.slack_token and not self.slack_channel and not self.routing_file:
            raise UserError("Input 'slack-token' is set but neither 'slack-channel' nor 'routing-file' names a "
                            "channel.", "set `slack-channel:` (e.g. C0123ABCD) or a routing file with "
                            "`defaults.channel`.", input_name="slack-channel")


def _guard_cost(action: Action, state: Any, table: Any, started: float, days: int) -> dict[str, Any]:
    """This workflow's own billed minutes this month (from the scan), and what it costs per month."""
    from shipyard.minutes.jobs import billable

    repo = action.github("repository")
    ref = action.github("workflow_ref")  # owner/repo/.github/workflows/x.yml@refs/heads/main
    path = ref.split("@", 1)[0].split("/", 2)[2] if ref.count("/") >= 2 else ""
    keys = {k for k, r in state.runs.items() if r[0] == repo and path and r[3] == path}
    minutes = 0.0
    for rec in state.jobs.values():
        if rec[0] in keys:
            minutes += billable(rec[5], rec[6]) * table.weight(rec[3])
    this_run = max(1, math.ceil((time.monotonic() - started) / 60))
    per_run = minutes / len(keys) if keys else float(this_run)
    monthly = per_run * days
    text = (f"{minutes:.0f} minutes in {len(keys)} runs this month; about {monthly:.0f} minutes a month "
            f"(one daily job of ~{per_run:.1f} billed minute{'s' if per_run != 1 else ''})")
    return {"minutes": minutes, "runs": len(keys), "per_month": round(monthly, 1), "text": text}


def run(action: Action) -> None:
    from shipyard.minutes import state as state_mod
    from shipyard.minutes.github import GitHubApi

    started = time.monotonic()
    inp = Inputs(action)
    state = state_mod.load(inp.state_file, inp.org, inp.month)
    backfill = inp.month < inp.as_of.strftime("%Y-%m")
    if backfill:  # a past month: its own scratch state; the current month's state, alerts and routing stay
        state = state_mod.State(inp.org, inp.month, notes=[f"past month {inp.month}: reported only (no state "
                                                           "saved, no alerts, no routing)"])

    def save() -> None:
        if not backfill:
            state_mod.save(state, inp.state_file)

    deadline = action.clock() + inp.timeout
    api = GitHubApi(action, inp.api_url, inp.token, cache=state.etags, max_elapsed=min(300.0, inp.timeout / 2))
    usage = _usage_of_record(action, inp, api)
    repos, result = _scan(action, inp, api, state, save, deadline)
    rep = _report(action, inp, api, state, usage, repos, result, started)
    deferred: UserError | None = None
    if backfill:
        pass
    elif result.complete:
        deferred = _alert_and_route(action, inp, api, state, rep)
        save()
    else:
        rep.notes.append("alerts and routing wait for a complete scan")
    _publish(action, inp, rep)
    if deferred is not None:
        raise deferred
    if result.error is not None:
        raise UserError(f"The scan stopped: {result.stopped}. What was counted is saved ({result.repos_done} of "
                        f"{result.repos_total} repositories done); nothing is counted twice.",
                        "nothing to change: the next run resumes from the saved state. If it keeps failing, check "
                        "GitHub's status and the token.", title="GitHub API failed mid-scan")
    if not result.complete:
        action.warning(f"The scan stopped early: {result.stopped}. The next run resumes from the saved state.")


def _usage_of_record(action: Action, inp: Inputs, api: GitHubApi) -> UsageOfRecord:
    """The month so far from the billing usage summary; GitHub not answering changes nothing and says so."""
    from shipyard.minutes import usage as usage_mod
    from shipyard.minutes.github import RateLimitLow

    year, month = int(inp.month[:4]), int(inp.month[5:])
    with action.group(f"Usage of record for {inp.org}, {inp.month}"):
        try:
            usage = usage_mod.fetch(api, inp.org, year, month)
        except (TransientError, RateLimitLow) as exc:
            raise UserError(f"GitHub's billing API did not answer: {exc}.",
                            "nothing was changed; run again later (check GitHub's status page if it persists).",
                            title="GitHub unavailable")
        action.info(f"{usage.minutes:,.0f} minutes of record across {len(usage.gross)} SKU(s)")
    return usage


def _scan(action: Action, inp: Inputs, api: GitHubApi, state: State, save: Callable[[], None],
          deadline: float) -> tuple[list[str], ScanResult]:
    """Every new run and job of the month across the repositories, the state saved at checkpoints and at the
    end (whatever happened), so an interrupted scan resumes and counts nothing twice."""
    from shipyard.minutes.github import ApiError, RateLimitLow
    from shipyard.minutes.scan import Scanner

    last_save = [action.clock()]

    def checkpoint() -> None:
        if action.clock() - last_save[0] >= CHECKPOINT_SECONDS:
            save()
            last_save[0] = action.clock()

    scanner = Scanner(api, state, inp.table, org=inp.org, as_of=inp.as_of, rerun_window_days=inp.rerun_window,
                      deadline=deadline, clock=action.clock, checkpoint=checkpoint, log=action.info)
    with action.group(f"Scanning workflow runs of {inp.org}"):
        try:
            repos = scanner.repositories(inp.repositories)
        except (TransientError, RateLimitLow, ApiError) as exc:
            raise UserError(f"Listing the repositories of '{inp.org}' failed: {exc}.",
                            "check that the token can read the organisation's repositories; run again later if "
                            "GitHub is failing.", title="repositories unavailable")
        try:
            result = scanner.scan(repos)
        finally:
            save()
        action.info(f"{result.repos_done}/{result.repos_total} repositories, {result.runs_seen} runs listed, "
                    f"{result.new_jobs} new jobs; {api.requests} requests ({api.not_modified} answered 304)")
    return repos, result


def _report(action: Action, inp: Inputs, api: GitHubApi, state: State, usage: UsageOfRecord, repos: list[str],
            result: ScanResult, started: float) -> Report:
    """Attribution, the forecast (scaled to the usage of record), reconciliation, waste and the guard's own cost."""
    from shipyard.minutes import report as report_mod
    from shipyard.minutes.forecast import forecast
    from shipyard.minutes.jobs import attribute, unmapped_fix
    from shipyard.minutes.reconcile import reconcile
    from shipyard.minutes.scan import month_bounds
    from shipyard.minutes.waste import find

    totals = attribute(state.runs, state.jobs.values(), inp.table)
    record_weighted = sum(m * inp.table.weight(sku) for sku, m in usage.gross.items())
    used = max(totals.weighted, record_weighted)
    by_day = dict(totals.by_day)
    if used > totals.weighted and totals.weighted > 0:  # scale the days so the chart ends at the usage of record
        factor = used / totals.weighted
        by_day = {d: m * factor for d, m in by_day.items()}
    fc = forecast(by_day, inp.month, inp.as_of, inp.included, inp.budget)
    fc.used = used
    rec = reconcile(totals, usage, set(repos), result.pending, result.complete)
    findings = find(state.runs, state.jobs.values(), inp.table)
    first, last = month_bounds(inp.month)
    guard = _guard_cost(action, state, inp.table, started, (last - first).days + 1)
    rep = report_mod.Report(inp.org, inp.month, inp.plan if action.input("included-minutes") is None else "custom",
                            totals, usage, used, fc, rec, findings, result, api.requests, api.not_modified,
                            guard=guard, notes=list(state.notes))
    if totals.unmapped:
        action.warning(f"Runner labels without a SKU, counted 1:1 as 'unmapped': {', '.join(totals.unmapped)}. "
                       f"Fix: {unmapped_fix(totals.unmapped)}", title="minutes-guard: unmapped runner labels")
    return rep


def _alert_and_route(action: Action, inp: Inputs, api: GitHubApi, state: State, rep: Report) -> UserError | None:
    """The Slack alert for a crossed threshold and the runner routing. A Slack misconfiguration does not stop the
    routing or the report: it is returned, to fail the run after both."""
    from shipyard.minutes import alerts as alerts_mod
    from shipyard.minutes import routing as routing_mod

    deferred: UserError | None = None
    try:
        rep.alerts = _alerts(action, inp, state, rep, alerts_mod)
    except UserError as exc:
        deferred = exc
        action.warning(f"Slack alert not sent: {exc}")
        rep.alerts = {"text": f"not sent: {exc.message}"}
    rep.routing = _routing(action, inp, api, state, rep, routing_mod)
    return deferred


def _publish(action: Action, inp: Inputs, rep: Report) -> None:
    """The JSON report file, the step summary and the outputs."""
    from shipyard.minutes import report as report_mod
    from shipyard.minutes.jobs import SELF_HOSTED

    data = report_mod.as_json(rep)
    out_dir = Path(action.env.get("RUNNER_TEMP") or inp.state_file.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file = out_dir / f"minutes-{inp.org}-{inp.month}.json"
    report_file.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if inp.format == "json":
        action.info(json.dumps(data, separators=(",", ":")))
    action.summary.text(report_mod.markdown(rep))
    fc, totals = rep.forecast, rep.totals
    action.set_output("used-minutes", f"{rep.used:.0f}")
    action.set_output("included-minutes", f"{inp.included:.0f}")
    action.set_output("percent", f"{fc.percent:.1f}")
    action.set_output("forecast-minutes", f"{fc.projected:.0f}")
    action.set_output("over-budget", fc.over_budget)
    action.set_output("runs-out-on", fc.runs_out_on.isoformat() if fc.runs_out_on else "")
    action.set_output("unmapped-labels", ",".join(sorted(totals.unmapped)))
    action.set_output("self-hosted-minutes", str(totals.minutes_by_sku.get(SELF_HOSTED, 0)))
    action.set_output("complete", rep.scan.complete)
    action.set_output("guard-minutes", f"{rep.guard['per_month']:.0f}")
    action.set_output("report-file", str(report_file))


def _mentions(inp: Inputs, rep: Any) -> tuple[str, list[str]]:
    """(channel from the routing file, owner mentions: the guard's own team, then the top repositories')."""
    if not inp.routing_file:
        return "", []
    from shipyard.slack import routing

    path = Path(inp.routing_file)
    if not path.is_file():
        raise UserError(f"Routing file '{inp.routing_file}' does not exist.",
                        "check the `routing-file` path (relative to the workspace).", input_name="routing-file")
    text = path.read_text(encoding="utf-8")
    own = routing.parse(text, inp.routing_file, "minutes-guard", "")
    teams = list(own.teams)
    for repo, _m in sorted(rep.totals.by_repo.items(), key=lambda kv: -kv[1])[:3]:
        for team in routing.parse(text, inp.routing_file, repo.split("/")[-1], "").teams:
            if team not in teams:
                teams.append(team)
    return own.channel, [f"<!subteam^{t}>" for t in teams]


def _alerts(action: Action, inp: Inputs, state: Any, rep: Any, alerts_mod: Any) -> dict[str, Any]:
    fc = rep.forecast
    keys = alerts_mod.due(fc.percent, fc.over_budget, inp.thresholds)
    if not inp.slack_token:
        return {"text": f"no `slack-token`: thresholds reached {', '.join(keys) or 'none'}", "due": keys}
    channel, mentions = _mentions(inp, rep)
    channel = inp.slack_channel or channel
    if not channel:
        raise UserError("No Slack channel: neither `slack-channel` nor the routing file's defaults.channel is set.",
                        "set `slack-channel:`.", input_name="slack-channel")
    month_name = datetime.strptime(inp.month, "%Y-%m").strftime("%B %Y")
    runs_out = fc.runs_out_on.strftime("%d %b") if fc.runs_out_on else "not this month"
    text = (f"Actions minutes for {inp.org}, {month_name}: {fc.used:,.0f} of {fc.included:,.0f} included "
            f"({fc.percent:.0f}%); forecast {fc.projected:,.0f}; included minutes run out: {runs_out}.")
    top = ", ".join(f"{r} ({m:,.0f})" for r, m in sorted(rep.totals.by_repo.items(), key=lambda kv: -kv[1])[:3])
    waste = next((f for f in rep.findings if f.minutes), None)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Actions minutes: {inp.org}, {month_name}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Used*\n{fc.used:,.0f} of {fc.included:,.0f} ({fc.percent:.0f}%)"},
            {"type": "mrkdwn", "text": f"*Forecast*\n{fc.projected:,.0f} (budget {fc.budget:,.0f})"},
            {"type": "mrkdwn", "text": f"*Runs out*\n{runs_out}"},
            {"type": "mrkdwn", "text": f"*Top repositories*\n{top or '-'}"}]},
    ]
    if waste:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"Biggest waste: {waste.title} ({waste.minutes:,.0f} min). Fix: {waste.fix}"[:2900]}]})
    run_url = action.run_url()
    if run_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{run_url}|Full report>"}]})

    def reply(key: str) -> str:
        who = " ".join(mentions)
        if key == alerts_mod.FORECAST:
            return (f":chart_with_upwards_trend: Forecast {fc.projected:,.0f} exceeds the budget of "
                    f"{fc.budget:,.0f} minutes (runs out {runs_out}). {who}").strip()
        return f":warning: {key}% of the included minutes used ({fc.used:,.0f} of {fc.included:,.0f}). {who}".strip()

    if inp.dry_run:
        return {"text": f"dry run: would alert {', '.join(keys) or 'nothing'} in {channel}", "due": keys}
    from shipyard.slack.api import SlackApi

    api = SlackApi(inp.slack_token, base_url=inp.slack_api_url or "https://slack.com/api/",
                   backoff=float(action.env.get("SHIPYARD_SLACK_BACKOFF") or 0.5), log=action.info)
    record = state.alerts.setdefault(inp.month, {})
    alerter = alerts_mod.Alerter(api, channel, org=inp.org, month=inp.month, log=action.warning)
    try:
        result = alerter.run(record, keys, text, blocks, reply)
    except UserError:
        raise
    except Exception as exc:  # a notification failure never fails the guard
        action.warning(f"Slack alert failed: {exc}")
        return {"text": f"failed: {exc}", "due": keys}
    done = ", ".join(result.sent) or "no new threshold"
    verb = "posted" if result.posted else ("updated" if result.updated else "nothing to post yet")
    return {"text": f"{verb} in {result.channel or channel}; alerted: {done}", "due": keys, "sent": result.sent,
            "ts": result.ts, "problem": result.problem}


def _routing(action: Action, inp: Inputs, api: Any, state: Any, rep: Any, routing_mod: Any) -> dict[str, Any]:
    if not inp.self_hosted and not state.routing:
        if rep.forecast.over_budget:
            return {"text": "the forecast exceeds the budget: set `self-hosted-labels` (and `route-runners: true`) "
                            f"to route jobs to self-hosted runners through {inp.variable}"}
        return {}
    labels = inp.self_hosted or ["self-hosted"]
    change = routing_mod.plan(state.routing, inp.month, rep.forecast.over_budget, inp.variable,
                              routing_mod.labels_json(labels))
    if change is None:
        return {"text": f"no change to {inp.variable}"}
    hosted = routing_mod.labels_json(inp.hosted)
    write = inp.route and not inp.dry_run
    outcome = routing_mod.apply(api, inp.org, change, state.routing, inp.month, write=write, hosted_default=hosted)
    target = change.value or hosted
    if outcome.problem:
        action.warning(f"Runner routing: {outcome.problem}. The alert is kept.", title="minutes-guard: routing refused")
        return {"text": f"refused: {outcome.problem}", "variable": inp.variable, "value": target, "applied": False}
    if not write:
        text = (f"dry run: would set {inp.variable} to {target} ({change.reason}; now "
                f"{outcome.previous if outcome.previous is not None else 'unset'}). Set `route-runners: true` to "
                "apply it.")
        action.notice(text)
        return {"text": text, "variable": inp.variable, "value": target, "applied": False}
    text = f"set {inp.variable} to {target} ({change.reason})"
    action.notice(text)
    return {"text": text, "variable": inp.variable, "value": target, "applied": True}
