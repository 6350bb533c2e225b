"""GitHub REST double for the Actions minutes guard: billing usage (enhanced platform), repositories, workflow
runs and jobs, organisation variables. Faithful where a client can tell:

* auth ``Authorization: Bearer|token X``; unknown -> 401 ``Bad credentials``. A token carries permissions
  (``administration``, ``actions``, ``variables``) and a kind: an App installation token without one answers
  403 ``Resource not accessible by integration``; a PAT answers 403 ``You must be an organization owner...``
  style messages.
* every answer carries ``x-ratelimit-limit/remaining/reset/used/resource``; a 304 does not count; the primary
  limit spent answers 403 ``API rate limit exceeded`` with ``x-ratelimit-remaining: 0``; secondary limits are
  injected faults: 403 or 429 with ``retry-after`` and GitHub's message.
* lists paginate with ``per_page`` (max 100) and ``page``, and a ``Link`` header (``next``/``last``/``prev``/
  ``first``) carrying the query; runs take ``created`` (``A..B``, ``>=A``, ``<=B``, ``A``) and answer at most
  1,000 runs for it (``total_count`` is the full count); jobs take ``filter=latest|all``.
* ``ETag`` (weak, from the body) on every GET; ``If-None-Match`` with it answers 304 without a body.
* ``/orgs/{org}/settings/billing/actions`` (legacy) answers 410 ``This endpoint has been moved.``;
  ``/organizations/{org}/settings/billing/usage[/summary]`` answer the usage of record (``usageItems[]``), 404
  when the organisation is not on the enhanced billing platform (``enhanced_billing = False``).
* the world moves with ``now`` (epoch seconds): runs, attempts and jobs appear, start and finish as it passes.

The organisation's runs come from a model (``tests/minutes/fixture.py``: ``Org`` with ``runs``/``repos``/
``usage_items``); the double only needs those attributes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.doubles.base import DoubleServer, Fault, Request, Response, json_response, route

DOCS = "https://docs.github.com/rest"
SEARCH_CAP = 1000
ALL = frozenset({"administration", "actions", "variables"})


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: str, end: bool) -> float:
    text = value.strip()
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    base = datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()
    return base + (86400 - 0.001 if end else 0)


def created_range(value: str) -> tuple[float, float]:
    """GitHub's search date syntax for ``created``: ``A..B``, ``>=A``, ``>A``, ``<=B``, ``<B``, ``A``."""
    value = value.strip()
    if ".." in value:
        a, _, b = value.partition("..")
        lo = float("-inf") if a in ("", "*") else _day(a, False)
        hi = float("inf") if b in ("", "*") else _day(b, True)
        return lo, hi
    for op in (">=", "<=", ">", "<"):
        if value.startswith(op):
            rest = value[len(op):]
            if op == ">=":
                return _day(rest, False), float("inf")
            if op == ">":
                return _day(rest, True), float("inf")
            if op == "<=":
                return float("-inf"), _day(rest, True)
            return float("-inf"), _day(rest, False) - 0.001
    return _day(value, False), _day(value, True)


@dataclass
class TokenInfo:
    login: str
    kind: str = "app"  # "app" (installation token) | "pat"
    permissions: frozenset[str] = ALL


@dataclass
class Variable:
    name: str
    value: str
    visibility: str = "all"
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Settings:
    enhanced_billing: bool = True
    refuse_variable_writes: bool = False
    per_page_max: int = 100
    included_minutes: float = 2000.0


class GitHubActionsDouble(DoubleServer):
    name = "github-actions"

    def __init__(self, org: Any, *, now: float | None = None, rate_limit: int = 100_000) -> None:
        super().__init__()
        self._server.socket.listen(256)
        self.org = org
        self.now = time.time() if now is None else now
        self.tokens: dict[str, TokenInfo] = {}
        self.variables: dict[str, Variable] = {}
        self.settings = Settings()
        self.limit = rate_limit
        self.used: dict[str, int] = {}
        self.reset_at = int(time.time()) + 3600
        self.counts: dict[str, int] = {}  # route kind -> requests (for the benchmark)
        self.search_cap = SEARCH_CAP  # runs answered for a `created` filter (GitHub: 1,000)
        self._index()

    # ----------------------------------------------------------------- set-up
    def _index(self) -> None:
        self.by_repo: dict[str, list[Any]] = {}
        for run in self.org.runs:
            self.by_repo.setdefault(run.repo.lower(), []).append(run)
        for runs in self.by_repo.values():
            runs.sort(key=lambda r: (r.created, r.id))
        self.created_keys = {k: [r.created for r in v] for k, v in self.by_repo.items()}
        self.run_by_id = {r.id: r for r in self.org.runs}

    def add_token(self, login: str = "minutes-guard", *, kind: str = "app",
                  permissions: frozenset[str] = ALL, token: str | None = None) -> str:
        token = token or ("ghs_" if kind == "app" else "github_pat_") + secrets.token_hex(18)
        with self.lock:
            self.tokens[token] = TokenInfo(login, kind, permissions)
        return token

    def set_now(self, now: float) -> None:
        with self.lock:
            self.now = now

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.transcript.clear()

    # ----------------------------------------------------------------- engine hooks
    def _token(self, req: Request) -> TokenInfo | None:
        scheme, _, value = req.header("authorization").partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        with self.lock:
            return self.tokens.get(value.strip())

    def authenticate(self, req: Request) -> Response | None:
        if self._token(req) is None:
            return self._answer(json_response({"message": "Bad credentials", "documentation_url": DOCS,
                                               "status": "401"}, 401), req)
        return None

    def rate_limit(self, req: Request) -> Response | None:
        key = req.header("authorization")
        with self.lock:
            used = self.used.get(key, 0)
            if used >= self.limit:
                body = {"message": f"API rate limit exceeded for installation ID {abs(hash(key)) % 10**7}.",
                        "documentation_url": DOCS + "/overview/rate-limits-for-the-rest-api", "status": "403"}
                return Response(403, body, self._rl_headers(key))
            self.used[key] = used + 1
        return None

    def _rl_headers(self, key: str) -> dict[str, str]:
        used = self.used.get(key, 0)
        return {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(max(0, self.limit - used)),
                "x-ratelimit-reset": str(self.reset_at), "x-ratelimit-used": str(used),
                "x-ratelimit-resource": "core", "x-github-request-id": secrets.token_hex(8).upper()}

    def _answer(self, resp: Response, req: Request) -> Response:
        resp.headers = {**self._rl_headers(req.header("authorization")), **resp.headers}
        return resp

    def fault_response(self, fault: Fault, req: Request) -> Response:
        if fault.body is not None:
            body = fault.body
        elif fault.status in (403, 429):
            body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                               "try again. If you reach out to GitHub Support for help, please include the "
                               "request ID.", "documentation_url": DOCS + "/overview/rate-limits-for-the-rest-api",
                    "status": str(fault.status)}
        else:
            body = {"message": "Server Error", "status": str(fault.status)}
        return self._answer(Response(fault.status, body, dict(fault.headers)), req)

    def not_found(self, req: Request) -> Response:
        return self._answer(json_response({"message": "Not Found", "documentation_url": DOCS, "status": "404"},
                                          404), req)

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        resp, fault = super().dispatch(req)
        if resp.status == 200 and req.method == "GET" and isinstance(resp.body, (dict, list)):
            etag = 'W/"' + hashlib.sha256(json.dumps(resp.body, sort_keys=True).encode()).hexdigest()[:40] + '"'
            resp.headers["ETag"] = etag
            if req.header("if-none-match") == etag:
                key = req.header("authorization")
                with self.lock:  # a 304 is free against the primary limit
                    self.used[key] = max(0, self.used.get(key, 0) - 1)
                resp = Response(304, b"", {k: v for k, v in resp.headers.items() if k.lower() in ("etag", "link")})
        if not any(k.lower() == "x-ratelimit-limit" for k in resp.headers):
            resp = self._answer(resp, req)
        return resp, fault

    # ----------------------------------------------------------------- helpers
    def _count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def _forbidden(self, req: Request, permission: str) -> Response | None:
        info = self._token(req)
        assert info is not None
        if permission in info.permissions:
            return None
        if info.kind == "app":
            message = "Resource not accessible by integration"
        else:
            message = "Resource not accessible by personal access token"
        return json_response({"message": message, "documentation_url": DOCS, "status": "403"}, 403)

    def _page(self, req: Request, items: list[Any], wrap: str | None, extra: dict[str, Any] | None = None,
              total: int | None = None) -> Response:
        try:
            per_page = max(1, min(self.settings.per_page_max, int(req.query.get("per_page", "30"))))
            page = max(1, int(req.query.get("page", "1")))
        except ValueError:
            return json_response({"message": "Invalid request.", "status": "422"}, 422)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        base = f"{self.url}{req.path}"

        def link(n: int, rel: str) -> str:
            query = {**req.query, "per_page": str(per_page), "page": str(n)}
            return f'<{base}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        headers = {"Link": ", ".join(links)} if links else {}
        body: Any = chunk if wrap is None else {"total_count": len(items) if total is None else total,
                                                wrap: chunk, **(extra or {})}
        return Response(200, body, headers)

    # ----------------------------------------------------------------- views of the model
    def _visible(self, run: Any) -> list[Any]:
        return [a for a in run.attempts if a.created <= self.now]

    def _job_json(self, run: Any, attempt: Any, job: Any) -> dict[str, Any]:
        now = self.now
        done = job.completed <= now
        started = job.started <= now
        status = "completed" if done else ("in_progress" if started else "queued")
        hosted = job.kind != "self"
        labels = {"linux": ["ubuntu-latest"], "windows": ["windows-latest"], "macos": ["macos-14"],
                  "large": ["linux-4core"], "self": ["self-hosted", "linux", "arc-runners"]}[job.kind]
        return {
            "id": job.id, "run_id": run.id, "run_attempt": attempt.number, "workflow_name": run.workflow,
            "head_branch": run.branch, "head_sha": run.sha, "name": job.name, "status": status,
            "conclusion": job.conclusion if done else None, "created_at": iso(job.created),
            "started_at": iso(job.started if started else job.created), "completed_at": iso(job.completed) if done else None,
            "labels": labels, "runner_id": (job.id % 97) + 1 if started else None,
            "runner_name": (f"GitHub Actions {job.id % 1000}" if hosted else f"arc-runners-{job.id % 50:02d}")
            if started else None,
            "runner_group_id": 0 if hosted else 3, "runner_group_name": "GitHub Actions" if hosted else "arc-scale-set",
            "html_url": f"https://github.com/{run.repo}/actions/runs/{run.id}/job/{job.id}",
            "url": f"{self.url}/repos/{run.repo}/actions/jobs/{job.id}",
        }

    def _run_json(self, run: Any) -> dict[str, Any]:
        seen = self._visible(run)
        latest = seen[-1]
        done = latest.completed <= self.now
        return {
            "id": run.id, "name": run.workflow, "path": run.path, "event": run.event, "head_branch": run.branch,
            "head_sha": run.sha, "run_number": run.id % 100000, "run_attempt": latest.number,
            "status": "completed" if done else "in_progress", "conclusion": latest.conclusion if done else None,
            "created_at": iso(run.created), "run_started_at": iso(latest.created),
            "updated_at": iso(latest.completed if done else max(latest.created, min(self.now, latest.completed))),
            "workflow_id": abs(hash(run.path)) % 10**6,
            "repository": {"full_name": run.repo},
            "html_url": f"https://github.com/{run.repo}/actions/runs/{run.id}",
            "jobs_url": f"{self.url}/repos/{run.repo}/actions/runs/{run.id}/jobs",
        }

    # ----------------------------------------------------------------- routes: repositories
    @route("GET", r"/orgs/(?P<org>[^/]+)/repos")
    def repos(self, req: Request) -> Response:
        self._count("repos")
        if req.params["org"].lower() != self.org.name.lower():
            return self.not_found(req)
        items = [{"id": 1000 + i, "name": n.split("/")[1], "full_name": n, "private": True, "archived": False,
                  "owner": {"login": self.org.name, "type": "Organization"}, "default_branch": "main"}
                 for i, n in enumerate(sorted(self.org.repos))]
        return self._page(req, items, None)

    @route("GET", r"/orgs/(?P<org>[^/]+)")
    def org_info(self, req: Request) -> Response:
        if req.params["org"].lower() != self.org.name.lower():
            return self.not_found(req)
        return json_response({"login": self.org.name, "id": 1, "type": "Organization",
                              "plan": {"name": "free"}})

    # ----------------------------------------------------------------- routes: runs and jobs
    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs")
    def runs(self, req: Request) -> Response:
        self._count("runs")
        refused = self._forbidden(req, "actions")
        if refused:
            return refused
        key = f"{req.params['owner']}/{req.params['repo']}".lower()
        if key not in {r.lower() for r in self.org.repos}:
            return self.not_found(req)
        runs = self.by_repo.get(key, [])
        keys = self.created_keys.get(key, [])
        lo, hi = (float("-inf"), float("inf"))
        if req.query.get("created"):
            try:
                lo, hi = created_range(req.query["created"])
            except ValueError:
                return json_response({"message": "Invalid created filter", "status": "422"}, 422)
        hi = min(hi, self.now)
        start = bisect.bisect_left(keys, lo)
        end = bisect.bisect_right(keys, hi)
        chosen = list(reversed(runs[start:end]))  # newest first
        total = len(chosen)
        if req.query.get("created"):
            chosen = chosen[:self.search_cap]
        for name in ("event", "branch", "status"):
            if req.query.get(name):
                want = req.query[name]
                field_name = {"branch": "head_branch"}.get(name, name)
                chosen = [r for r in chosen if self._run_json(r).get(field_name) == want]
                total = len(chosen)
        return self._page(req, [self._run_json(r) for r in chosen], "workflow_runs", total=total)

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)")
    def run(self, req: Request) -> Response:
        self._count("run")
        refused = self._forbidden(req, "actions")
        if refused:
            return refused
        run = self.run_by_id.get(int(req.params["run_id"]))
        if run is None or run.created > self.now or run.repo.lower() != f"{req.params['owner']}/{req.params['repo']}".lower():
            return self.not_found(req)
        return json_response(self._run_json(run))

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)/jobs")
    def jobs(self, req: Request) -> Response:
        self._count("jobs")
        refused = self._forbidden(req, "actions")
        if refused:
            return refused
        run = self.run_by_id.get(int(req.params["run_id"]))
        if run is None or run.created > self.now or run.repo.lower() != f"{req.params['owner']}/{req.params['repo']}".lower():
            return self.not_found(req)
        seen = self._visible(run)
        which = req.query.get("filter", "latest")
        if which not in ("latest", "all"):
            return json_response({"message": "Invalid filter", "status": "422"}, 422)
        attempts = seen if which == "all" else seen[-1:]
        items = [self._job_json(run, a, j) for a in attempts for j in a.jobs if j.created <= self.now]
        return self._page(req, items, "jobs")

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run_id>\d+)/attempts/(?P<n>\d+)/jobs")
    def attempt_jobs(self, req: Request) -> Response:
        self._count("jobs")
        run = self.run_by_id.get(int(req.params["run_id"]))
        if run is None or run.created > self.now:
            return self.not_found(req)
        seen = [a for a in self._visible(run) if a.number == int(req.params["n"])]
        if not seen:
            return self.not_found(req)
        return self._page(req, [self._job_json(run, seen[0], j) for j in seen[0].jobs], "jobs")

    # ----------------------------------------------------------------- routes: billing
    @route("GET", r"/orgs/(?P<org>[^/]+)/settings/billing/(?P<product>actions|packages|shared-storage)")
    def legacy_billing(self, req: Request) -> Response:
        self._count("legacy")
        return json_response({"message": "This endpoint has been moved.",
                              "documentation_url": "https://gh.io/billing-api-updates-org", "status": "410"}, 410)

    def _billing_guard(self, req: Request) -> Response | None:
        refused = self._forbidden(req, "administration")
        if refused:
            return refused
        if req.params["org"].lower() != self.org.name.lower():
            return self.not_found(req)
        if not self.settings.enhanced_billing:
            return json_response({"message": "Not Found", "documentation_url": DOCS + "/billing/enhanced-billing",
                                  "status": "404"}, 404)
        try:
            year, month = int(req.query.get("year", "0")), int(req.query.get("month", "0"))
        except ValueError:
            return json_response({"message": "Invalid year or month", "status": "400"}, 400)
        if not year or not 1 <= month <= 12:
            return json_response({"message": "year and month are required here", "status": "400"}, 400)
        return None

    def _items(self, req: Request) -> list[tuple[str, str, str, float]]:
        year, month = int(req.query["year"]), int(req.query["month"])
        prefix = f"{year:04d}-{month:02d}"
        items = [i for i in self.org.usage_items(self.now) if i[0].startswith(prefix)]
        if req.query.get("day"):
            items = [i for i in items if int(i[0][8:10]) == int(req.query["day"])]
        if req.query.get("repository"):
            items = [i for i in items if i[1].lower() == req.query["repository"].lower()]
        if req.query.get("sku"):
            items = [i for i in items if i[2] == req.query["sku"]]
        if req.query.get("product") and req.query["product"] != "actions":
            items = []
        return items

    PRICES = {"actions_linux": 0.006, "actions_windows": 0.010, "actions_macos": 0.062,
              "actions_linux_4_core": 0.012, "actions_linux_slim": 0.002}
    WEIGHT = {"actions_windows": 2, "actions_macos": 10}

    @route("GET", r"/organizations/(?P<org>[^/]+)/settings/billing/usage/summary")
    def usage_summary(self, req: Request) -> Response:
        self._count("usage")
        refused = self._billing_guard(req)
        if refused:
            return refused
        by_sku: dict[str, float] = {}
        for _day, _repo, sku, minutes in self._items(req):
            by_sku[sku] = by_sku.get(sku, 0.0) + minutes
        left = self.settings.included_minutes
        usage = []
        for sku in sorted(by_sku):
            gross = by_sku[sku]
            weight = self.WEIGHT.get(sku, 1)
            covered = min(gross, left / weight) if left > 0 else 0.0
            left -= covered * weight
            price = self.PRICES.get(sku, 0.008)
            usage.append({"product": "actions", "sku": sku, "unitType": "minutes", "pricePerUnit": price,
                          "grossQuantity": gross, "grossAmount": round(gross * price, 4),
                          "discountQuantity": covered, "discountAmount": round(covered * price, 4),
                          "netQuantity": gross - covered, "netAmount": round((gross - covered) * price, 4)})
        q = req.query
        return json_response({
            "timePeriod": {"year": int(q["year"]), **({"month": int(q["month"])} if q.get("month") else {}),
                           **({"day": int(q["day"])} if q.get("day") else {})},
            "organization": self.org.name, **({"repository": q["repository"]} if q.get("repository") else {}),
            **({"product": q["product"]} if q.get("product") else {}), "usageItems": usage})

    @route("GET", r"/organizations/(?P<org>[^/]+)/settings/billing/usage")
    def usage_report(self, req: Request) -> Response:
        self._count("usage")
        refused = self._billing_guard(req)
        if refused:
            return refused
        usage = []
        for day, repo, sku, minutes in self._items(req):
            price = self.PRICES.get(sku, 0.008)
            usage.append({"date": day + "T00:00:00Z", "product": "actions", "sku": sku, "quantity": minutes,
                          "unitType": "minutes", "pricePerUnit": price, "grossAmount": round(minutes * price, 4),
                          "discountAmount": 0.0, "netAmount": round(minutes * price, 4),
                          "organizationName": self.org.name, "repositoryName": repo})
        return json_response({"usageItems": usage})

    # ----------------------------------------------------------------- routes: organisation variables
    def _var_json(self, var: Variable) -> dict[str, Any]:
        return {"name": var.name, "value": var.value, "visibility": var.visibility, "created_at": var.created_at,
                "updated_at": var.updated_at}

    def _var_write_refused(self, req: Request) -> Response | None:
        refused = self._forbidden(req, "variables")
        if refused:
            return refused
        if self.settings.refuse_variable_writes:
            return json_response({"message": "Resource not accessible by integration", "documentation_url": DOCS,
                                  "status": "403"}, 403)
        return None

    @route("GET", r"/orgs/(?P<org>[^/]+)/actions/variables")
    def list_variables(self, req: Request) -> Response:
        refused = self._forbidden(req, "variables")
        if refused:
            return refused
        with self.lock:
            items = [self._var_json(v) for v in sorted(self.variables.values(), key=lambda v: v.name)]
        return self._page(req, items, "variables")

    @route("GET", r"/orgs/(?P<org>[^/]+)/actions/variables/(?P<name>[^/]+)")
    def get_variable(self, req: Request) -> Response:
        refused = self._forbidden(req, "variables")
        if refused:
            return refused
        with self.lock:
            var = self.variables.get(req.params["name"].upper())
        return json_response(self._var_json(var)) if var else self.not_found(req)

    @route("POST", r"/orgs/(?P<org>[^/]+)/actions/variables")
    def create_variable(self, req: Request) -> Response:
        refused = self._var_write_refused(req)
        if refused:
            return refused
        data = req.json() or {}
        name = str(data.get("name") or "").upper()
        if not name or "value" not in data or data.get("visibility") not in ("all", "private", "selected"):
            return json_response({"message": "Invalid request.\n\n\"name\", \"value\" and \"visibility\" are "
                                             "required.", "documentation_url": DOCS, "status": "422"}, 422)
        with self.lock:
            if name in self.variables:
                return json_response({"message": "Variable already exists", "status": "409"}, 409)
            stamp = iso(self.now) or ""
            self.variables[name] = Variable(name, str(data["value"]), str(data["visibility"]), stamp, stamp)
        return json_response({}, 201)

    @route("PATCH", r"/orgs/(?P<org>[^/]+)/actions/variables/(?P<name>[^/]+)")
    def update_variable(self, req: Request) -> Response:
        refused = self._var_write_refused(req)
        if refused:
            return refused
        data = req.json() or {}
        with self.lock:
            var = self.variables.get(req.params["name"].upper())
            if var is None:
                return self.not_found(req)
            if "value" in data:
                var.value = str(data["value"])
            if data.get("visibility"):
                var.visibility = str(data["visibility"])
            var.updated_at = iso(self.now) or ""
        return Response(204, b"")


@dataclass
class Served:
    """A started double with its tokens (for tests)."""

    double: GitHubActionsDouble
    token: str
    extra: dict[str, str] = field(default_factory=dict)
