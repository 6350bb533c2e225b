"""What the message says about the run, read from the GitHub Actions environment and the event payload."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.runtime import workflow_run_url


@dataclass
class RunContext:
    server: str = "https://github.com"
    repository: str = ""
    run_id: str = ""
    attempt: str = "1"
    workflow: str = ""
    job: str = ""
    ref_name: str = ""
    ref_type: str = "branch"
    sha: str = ""
    commit_title: str = ""
    author: str = ""  # GitHub login
    pr_url: str = ""
    pr_number: str = ""
    service: str = ""
    environment: str = ""
    matrix_key: str = ""
    job_url: str = ""

    @property
    def repo_url(self) -> str:
        return f"{self.server}/{self.repository}" if self.repository else ""

    @property
    def run_url(self) -> str:
        return workflow_run_url(self.server, self.repository, self.run_id, self.attempt)

    @property
    def commit_url(self) -> str:
        return f"{self.repo_url}/commit/{self.sha}" if self.repository and self.sha else ""

    @property
    def ref_url(self) -> str:
        if not self.repository or not self.ref_name:
            return ""
        return f"{self.repo_url}/tree/{self.ref_name}"

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def failing_job_url(self) -> str:
        return self.job_url or self.run_url

    def run_key(self) -> dict[str, str]:
        """What identifies this run's parent message (metadata payload keys)."""
        return {"repo": self.repository, "run_id": self.run_id, "key": self.matrix_key}

    def lineage(self) -> dict[str, str]:
        """What identifies "the same deployment" across runs, for failed -> fixed detection."""
        return {"service": self.service, "branch": self.ref_name, "env": self.environment, "key": self.matrix_key}


def _event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def matrix_label(raw: str) -> str:
    """``${{ toJSON(matrix) }}`` -> ``os=linux, arch=arm64``; a plain label is kept as it is."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return " ".join(raw.split())
    if isinstance(data, dict):
        if not data:
            return ""
        return ", ".join(f"{k}={v if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)}"
                         for k, v in sorted(data.items()))
    if data is None:
        return ""
    return str(data)


def from_env(env: Mapping[str, str], overrides: Mapping[str, str | None]) -> RunContext:
    """Build the context; ``overrides`` are the stage's inputs (service, environment, author, ...)."""
    event = _event(env)
    ctx = RunContext(
        server=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        repository=env.get("GITHUB_REPOSITORY", ""),
        run_id=env.get("GITHUB_RUN_ID", ""),
        attempt=env.get("GITHUB_RUN_ATTEMPT", "") or "1",
        workflow=env.get("GITHUB_WORKFLOW", ""),
        job=env.get("GITHUB_JOB", ""),
        sha=env.get("GITHUB_SHA", ""),
        ref_type=env.get("GITHUB_REF_TYPE", "") or "branch",
    )
    ref = env.get("GITHUB_REF", "")
    ctx.ref_name = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or re.sub(r"^refs/(heads|tags)/", "", ref)
    pr = _obj(event, "pull_request")
    if pr:
        ctx.pr_url = str(pr.get("html_url") or "")
        ctx.pr_number = str(pr.get("number") or "")
        ctx.commit_title = _first_line(str(pr.get("title") or ""))
        head = _obj(pr, "head")
        ctx.sha = str(head.get("sha") or ctx.sha)
        user = _obj(pr, "user")
        ctx.author = str(user.get("login") or "")
    head_commit = _obj(event, "head_commit")
    if head_commit and not ctx.commit_title:
        ctx.commit_title = _first_line(str(head_commit.get("message") or ""))
        author = _obj(head_commit, "author")
        ctx.author = ctx.author or str(author.get("username") or "")
    if not ctx.author:
        sender = _obj(event, "sender")
        ctx.author = str(sender.get("login") or env.get("GITHUB_TRIGGERING_ACTOR") or env.get("GITHUB_ACTOR") or "")
    ctx.service = ctx.repository.rsplit("/", 1)[-1] if ctx.repository else ""
    for name, attr in (
        ("service", "service"),
        ("environment", "environment"),
        ("commit-title", "commit_title"),
        ("author", "author"),
        ("pr-url", "pr_url"),
        ("job-url", "job_url"),
    ):
        value = overrides.get(name)
        if value:
            setattr(ctx, attr, value.strip())
    ctx.matrix_key = matrix_label(overrides.get("matrix-key") or "")
    return ctx
