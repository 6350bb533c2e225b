"""The fixture organisation (60 repositories in every state the fleet stage meets) on the GitHub double, and a
stage runner with injected time."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard.fleet import templates
from shipyard.fleet.stage import run
from shipyard.runtime import Action, run_stage
from tests.doubles.github_fleet import FleetGitHubDouble

ORG = "acme"
SHIPYARD = "shipyard/shipyard"
NOW = 1_790_000_000.0  # 2026-09-21
DAY = 86400.0
RELEASES = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0"]
SHA = {tag: f"{i + 1:x}" * 40 for i, tag in enumerate(RELEASES)}
GOLDEN = Path(__file__).parent / "golden"

ROOT_FILES: dict[str, dict[str, str]] = {
    "go": {"go.mod": "module example.com/svc\n\ngo 1.22\n", "main.go": "package main\n"},
    "java": {"pom.xml": "<project><artifactId>svc</artifactId></project>\n"},
    "kotlin": {"build.gradle.kts": 'plugins { kotlin("jvm") version "2.0.0" }\n'},
    "python": {"pyproject.toml": "[project]\nname = 'svc'\n", "requirements.txt": "fastapi\n"},
    "node": {"package.json": '{"name": "svc", "dependencies": {"express": "4"}}\n'},
    "vue": {"package.json": '{"name": "web", "dependencies": {"vue": "3"}, "devDependencies": {"vite": "5"}}\n'},
    "swift": {"Package.swift": '// swift-tools-version:5.9\nlet package = Package(name: "svc")\n'},
}
LANGS = list(ROOT_FILES)
DETECTED = {"vue": "spa"}

DRIFTED = """\
# payments: our copy of the Shipyard template (we deploy from release branches too)
name: ship payments

on:
  push:
    branches: [main, release]   # release branches deploy to prd
    paths-ignore: ["**.md"]

permissions: write-all

env:
  TEAM: payments

jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
  ship:
    uses: shipyard/shipyard/.github/workflows/pipeline-{lang}.yml@v1.2.0
    permissions:
      contents: write
      id-token: write
    with:
      environment: ${{{{ inputs.environment || 'dev' }}}}
      aws-region: eu-west-1   # pinned on purpose: data residency
      role-to-assume: ${{{{ vars.SHIPYARD_ECR_ROLE }}}}
      service: payments
    secrets: inherit
"""

STEPS = """\
name: build only
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - uses: shipyard/shipyard/actions/build@v1.3.0
        with:
          context: .
"""


def template(lang: str, ref: str = "v1", comment: str = "") -> str:
    text = templates.load()[lang].render("main")
    old = f"/pipeline-{lang}.yml@v1"
    return text.replace(old, f"/pipeline-{lang}.yml@{ref}" + (f" # {comment}" if comment else ""))


@dataclass
class Fleet:
    double: FleetGitHubDouble
    token: str
    expect: dict[str, str] = field(default_factory=dict)  # repo -> planned action
    reason: dict[str, str] = field(default_factory=dict)


def build_org(double: FleetGitHubDouble, plan: str = "team") -> Fleet:
    double.add_org(ORG, plan)
    double.tags[SHIPYARD] = {**{t: SHA[t] for t in RELEASES}, "v1": SHA["v1.4.0"]}
    fleet = Fleet(double, double.add_classic_token())

    def add(name: str, files: dict[str, str], action: str, **kwargs: object) -> None:
        double.add_fleet_repo(ORG, name, files, **kwargs)  # type: ignore[arg-type]
        fleet.expect[name] = action

    for lang in LANGS:  # 7: no pipeline yet
        add(f"adopt-{lang}", {**ROOT_FILES[lang], "README.md": "# svc\n"}, "adopt")
    for i in range(27):  # 27: the template as generated today
        lang = LANGS[i % 7]
        add(f"current-{i:02d}", {**ROOT_FILES[lang], ".github/workflows/ship.yml": template(lang)}, "nothing")
    for i in range(6):  # 6: old pin by tag
        lang = LANGS[i % 7]
        add(f"tag-old-{i}", {**ROOT_FILES[lang], ".github/workflows/ship.yml": template(lang, "v1.2.0")}, "upgrade")
    for i in range(5):  # 5: old pin by SHA with its version comment
        lang = LANGS[(i + 3) % 7]
        add(f"sha-old-{i}", {**ROOT_FILES[lang], ".github/workflows/ship.yml":
                             template(lang, SHA["v1.1.0"], "v1.1.0")}, "upgrade")
    for lang in ("go", "python", "node"):  # 3: drifted copies with local edits
        add(f"drifted-{lang}", {**ROOT_FILES[lang], ".github/workflows/ship.yml": DRIFTED.format(lang=lang)},
            "repair")
    add("docs-site", {"index.html": "<h1>docs</h1>\n", "README.md": "docs\n"}, "nothing")
    add("opted-out-topic", ROOT_FILES["go"], "skip", topics=["shipyard-opt-out"])
    add("opted-out-file", {**ROOT_FILES["go"], ".shipyard.yml": "fleet:\n  opt-out: true\n"}, "skip")
    add("archived-svc", ROOT_FILES["java"], "skip", archived=True)
    add("forked-lib", ROOT_FILES["node"], "skip", fork=True)
    add("empty-repo", {}, "skip")
    add("closed-pr", ROOT_FILES["go"], "adopt")
    add("closed-pr-old", ROOT_FILES["python"], "adopt")
    add("broken-workflow", {**ROOT_FILES["go"], ".github/workflows/ship.yml": "jobs:\n  ship: [unclosed\n"}, "error")
    add("branch-pin", {**ROOT_FILES["go"], ".github/workflows/ship.yml": template("go", "main")}, "nothing")
    add("blocked", ROOT_FILES["python"], "adopt", block_branch_creation=True)
    add("steps-only", {**ROOT_FILES["node"], ".github/workflows/build.yml": STEPS}, "upgrade")
    for name, days in (("closed-pr", 3), ("closed-pr-old", 90)):
        repo = double.fleet[f"{ORG}/{name}"]
        repo.pulls.append({"id": double._id(), "number": 1, "state": "closed", "title": "Shipyard: adopt",
                           "body": "", "head": "shipyard/fleet", "base": "main", "user": "fleet-bot",
                           "closed_at": NOW - days * DAY})
    assert len(fleet.expect) == 60
    return fleet


@pytest.fixture
def github() -> Iterator[FleetGitHubDouble]:
    with FleetGitHubDouble() as double:
        assert isinstance(double, FleetGitHubDouble)
        yield double


@pytest.fixture
def fleet(github: FleetGitHubDouble) -> Fleet:
    return build_org(github)


@dataclass
class StageRun:
    code: int
    out: str
    outputs: dict[str, str]
    summary: str
    slept: list[float]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith(("::error", "error: "))]


def run_fleet(inputs: dict[str, str], *, api: str, state: Path, now: float = NOW,
              env_extra: dict[str, str] | None = None) -> StageRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(env_extra or {})
    base = {"organization": ORG, "github-api-url": api, "state-dir": str(state), "required-checks": "off"}
    for key, value in {**base, **inputs}.items():
        env["INPUT_" + key.replace("-", "_").upper()] = value
    summary = Path(tempfile.mkstemp(prefix="fleet-summary-")[1])
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    out = io.StringIO()
    slept: list[float] = []
    action = Action(env, out, sleep=slept.append)
    code = run_stage(lambda a: run(a, now=lambda: now), action, name="fleet")
    text = summary.read_text(encoding="utf-8")
    summary.unlink()
    return StageRun(code, out.getvalue(), dict(action.outputs), text, slept)


def small_org(double: FleetGitHubDouble, plan: str = "team", **kwargs: object) -> Fleet:
    """Four repositories: one to adopt, one to upgrade, one up to date, one public and up to date."""
    double.add_org(ORG, plan)
    double.tags[SHIPYARD] = {**{t: SHA[t] for t in RELEASES}, "v1": SHA["v1.4.0"]}
    fleet = Fleet(double, double.add_classic_token())
    for name, files, action, extra in (
        ("svc-new", ROOT_FILES["go"], "adopt", {}),
        ("svc-old", {**ROOT_FILES["python"], ".github/workflows/ship.yml": template("python", "v1.2.0")}, "upgrade",
         {}),
        ("svc-ok", {**ROOT_FILES["java"], ".github/workflows/ship.yml": template("java")}, "nothing", {}),
        ("svc-public", {**ROOT_FILES["node"], ".github/workflows/ship.yml": template("node")}, "nothing",
         {"visibility": "public"}),
    ):
        double.add_fleet_repo(ORG, name, files, **{**extra, **kwargs})  # type: ignore[arg-type]
        fleet.expect[name] = action
    return fleet


def app_key(double: FleetGitHubDouble, app_id: str = "4242") -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    double.add_app(app_id, public, f"{ORG}/svc-new")
    return pem
