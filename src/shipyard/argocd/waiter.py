"""Poll several ArgoCD applications at once until each is deployed at our commit, broken, or out of time.

One thread per application (bounded), one shared deadline. Each poll is judged by
:func:`shipyard.argocd.status.evaluate`; a line is logged when an application's state changes (and a heartbeat
every ``heartbeat`` seconds otherwise). The interval grows by 1.5x while nothing changes (capped) and snaps
back when something does. ArgoCD is asked to refresh on the first poll, when health is stale, when an error
condition shows up (to confirm it is not a passing repo-server hiccup) and every ``refresh_every`` seconds
while it still lags behind our commit (no webhook: ArgoCD would otherwise look at git only every ~3 minutes).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from shipyard.runtime import Action, UserError, format_duration

from .apps import AppRef
from .client import ArgoClient, ArgoTransient, RefreshFailed
from .status import FAILED, HEALTHY, Contains, Observation, evaluate, short

OK = "healthy"
RESULT_FAILED = "failed"
TIMEOUT = "timeout"
ERROR = "error"
CANCELLED = "cancelled"

TIMEOUT_HINTS = {
    "lagging": "ArgoCD never reported our commit: check that the application's targetRevision tracks the branch "
               "that was pushed, that ArgoCD can reach the config repo, and that its path contains the change.",
    "revision-unknown": "the revision ArgoCD reports could not be related to our commit: check `config-repo-path` "
                        "(or `config-repo`) names the application's source repository.",
    "out-of-sync": "the application is OutOfSync at our commit and nothing syncs it: enable automated sync "
                   "(spec.syncPolicy.automated) or run `argocd app sync` in the workflow.",
    "operation": "a sync operation is still running: look at the app's sync hooks and waves in the ArgoCD UI, or "
                 "raise `timeout`.",
    "progressing": "the rollout did not become Healthy in time: check the pods (image pull errors, readiness "
                   "probes, crash loops) or raise `timeout`.",
    "stale-health": "ArgoCD did not reconcile after the sync: check the application controller.",
}


@dataclass
class AppResult:
    app: str
    result: str = TIMEOUT
    sync: str = ""
    health: str = ""
    revision: str = ""
    operation: str = ""
    message: str = ""
    seconds: float = 0.0
    polls: int = 0
    tag: str = ""
    refreshes: int = 0
    history: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("history")
        data["seconds"] = round(self.seconds, 1)
        return data


@dataclass
class WaitOptions:
    timeout: float = 600.0
    poll: float = 5.0
    refresh: str | None = "normal"  # first poll: normal | hard | None
    refresh_timeout: float = 30.0
    fail_fast: bool = True
    heartbeat: float = 60.0

    @property
    def max_interval(self) -> float:
        return max(self.poll, min(30.0, self.poll * 6))

    @property
    def refresh_every(self) -> float:
        return max(self.poll * 6, min(30.0, self.poll * 20))


class Waiter:
    def __init__(self, action: Action, client: ArgoClient, want: str | None, contains: Contains,
                 options: WaitOptions) -> None:
        self.action = action
        self.client = client
        self.want = want
        self.contains = contains
        self.opts = options
        self.abort = threading.Event()
        self._log_lock = threading.Lock()
        self.since = datetime.now(timezone.utc)
        self.start = action.clock()
        self.deadline = self.start + options.timeout
        self.config_error: UserError | None = None

    def log(self, line: str) -> None:
        with self._log_lock:
            self.action.info(line)

    def warn(self, line: str) -> None:
        with self._log_lock:
            self.action.warning(line)

    def run(self, refs: list[AppRef]) -> list[AppResult]:
        workers = max(1, min(len(refs), 16))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argocd-wait") as pool:
            return list(pool.map(self.wait_one, refs))

    # ------------------------------------------------------------------ one app
    def wait_one(self, ref: AppRef) -> AppResult:
        res = AppResult(app=ref.label)
        clock = self.action.clock
        started = clock()
        refresh_next = self.opts.refresh
        interval = self.opts.poll
        last_key: tuple[str, ...] | None = None
        last_log = started
        last_refresh = started
        error_seen = False
        refresh_warned = False
        obs: Observation | None = None

        def finish(result: str, message: str) -> AppResult:
            res.result, res.message, res.seconds = result, message, clock() - started
            if obs is not None:
                res.sync, res.health, res.revision, res.operation, res.tag = (
                    obs.sync, obs.health, obs.revision, obs.operation, obs.tag)
            return res

        for _ in range(1_000_000):  # bounded by the deadline below; the count is a backstop
            if self.abort.is_set():
                return finish(CANCELLED, "stopped: another application failed (fail-fast)")
            remaining = self.deadline - clock()
            if remaining <= 0:
                break
            try:
                if refresh_next:
                    try:
                        app = self.client.get_app(ref, refresh=refresh_next,
                                                  timeout=min(self.opts.refresh_timeout, remaining))
                        res.refreshes += 1
                    except RefreshFailed as exc:
                        if not refresh_warned:
                            self.warn(f"[{ref.label}] ArgoCD could not complete a {refresh_next} refresh ({exc}); "
                                      "polling without refresh (ArgoCD re-reads git on its own every ~3 minutes).")
                            refresh_warned = True
                        app = self.client.get_app(ref, timeout=max(1.0, self.deadline - clock()))
                    last_refresh = clock()
                    refresh_next = None
                else:
                    app = self.client.get_app(ref, timeout=remaining)
                res.polls += 1
                obs = evaluate(app, self.want, self.contains, self.since)  # may ask git or GitHub
            except ArgoTransient as exc:
                self.log(f"[{ref.label}] ArgoCD unavailable ({exc}); still waiting")
                self._sleep(interval)
                interval = min(self.opts.max_interval, interval * 1.5)
                continue
            except UserError as exc:
                self.config_error = self.config_error or exc
                if self.opts.fail_fast:
                    self.abort.set()
                return finish(ERROR, exc.message)
            if obs.state == HEALTHY:
                self._progress(ref, res, obs, clock() - started)
                return finish(OK, obs.reason)
            if obs.state == FAILED:
                if obs.tag == "error-condition" and not error_seen:
                    # often a passing repo-server failure: refresh once and look again before failing
                    error_seen = True
                    refresh_next = "normal"
                    self._progress(ref, res, obs, clock() - started, note="refreshing to confirm")
                    last_key = obs.key()
                    self._sleep(self.opts.poll)
                    continue
                self._progress(ref, res, obs, clock() - started)
                if self.opts.fail_fast:
                    self.abort.set()
                return finish(RESULT_FAILED, obs.reason)
            error_seen = False
            lagging = obs.tag in ("lagging", "revision-unknown")
            if obs.refresh or (lagging and clock() - last_refresh >= self.opts.refresh_every):
                refresh_next = "normal"
            now = clock()
            if obs.key() != last_key:
                self._progress(ref, res, obs, now - started)
                last_log = now
                interval = self.opts.poll
            else:
                if now - last_log >= self.opts.heartbeat:
                    self._progress(ref, res, obs, now - started, note="still")
                    last_log = now
                interval = min(self.opts.max_interval, interval * 1.5)
            last_key = obs.key()
            self._sleep(interval)  # also before a refresh: never hammer ArgoCD if health stays stale
        hint = TIMEOUT_HINTS.get(obs.tag if obs else "", "check that ArgoCD is reachable and the app reconciles.")
        last = f"last seen: {obs.reason}. " if obs else "ArgoCD never answered. "
        return finish(TIMEOUT, f"timed out after {format_duration(self.opts.timeout)}; {last}{hint}")

    def _sleep(self, seconds: float) -> None:
        remaining = self.deadline - self.action.clock()
        self.abort.wait(max(0.0, min(seconds, remaining)))

    def _progress(self, ref: AppRef, res: AppResult, obs: Observation, elapsed: float, note: str = "") -> None:
        rev = short(obs.revision) if obs.revision else "-"
        line = (f"[{ref.label}] {format_duration(elapsed):>7}  {obs.sync}/{obs.health}"
                f"{' op=' + obs.operation if obs.operation else ''}  rev {rev}  {obs.reason}"
                f"{' (' + note + ')' if note else ''}")
        res.history.append(line)
        self.log(line)


def render_row(res: AppResult) -> list[str]:
    icon = {OK: ":white_check_mark:", RESULT_FAILED: ":x:", TIMEOUT: ":hourglass:", ERROR: ":no_entry:",
            CANCELLED: ":heavy_minus_sign:"}.get(res.result, "")
    return [res.app, res.sync or "-", res.health or "-", short(res.revision) if res.revision else "-",
            format_duration(res.seconds), f"{icon} {res.result}".strip()]

