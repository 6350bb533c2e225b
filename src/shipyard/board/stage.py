"""deploy-board: what runs where, from the config repository, Argo CD and ECR, as an HTML page and a summary.

Reads only: a bare clone of the config repository, one ``GET /api/v1/applications`` and ECR's DescribeImages
(plus DescribeImageScanFindings where needed). Argo CD or ECR being unreachable never fails the board: the page
is rendered from git and marks the cluster state unknown. See actions/deploy-board/README.md.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

from shipyard.board import html, markdown
from shipyard.board.view import counts
from shipyard.fleetview.gather import read_fleet
from shipyard.fleetview.sources import clone_config, read_sources
from shipyard.runtime import Action, UserError, redact_url
from shipyard.urls import mask_credentials


def parse_now(action: Action) -> float:
    raw = action.input("now")
    if not raw:
        return time.time()
    from shipyard.gitops.message import parse_time

    value = parse_time(raw)
    if value is None:
        raise UserError(f"Input 'now' is not a timestamp: '{raw}'.", "give ISO 8601 (2026-01-02T03:04:05Z) or "
                        "epoch seconds, or leave it empty for the current time.", input_name="now")
    return value


def output_dir(action: Action) -> Path:
    raw = action.input("output-dir") or "deploy-board"
    if any(ord(c) < 32 for c in raw):
        raise UserError("Input 'output-dir' contains control characters.", "give a plain directory path.",
                        input_name="output-dir")
    base = Path(action.env.get("GITHUB_WORKSPACE") or ".")
    return Path(raw) if os.path.isabs(raw) else base / raw


def run(action: Action) -> None:
    mask_credentials(action)  # a token pasted into any input's URL is blanked wherever an error repeats it
    src = read_sources(action)
    now = parse_now(action)
    out_dir = output_dir(action)
    title = action.input("title") or "Deploy board"
    if re.search(r"[\x00-\x1f]", title):
        raise UserError("Input 'title' contains control characters.", "give a one-line title.", input_name="title")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipyard-board-") as tmp:
        git_dir = os.path.join(tmp, "config.git")
        with action.group(f"Read {redact_url(src.url)} ({src.branch})"):
            clone_config(action, src, git_dir)
            fleet = read_fleet(action, src, git_dir, now)
            action.info(f"{len(fleet.services)} services, {len(fleet.columns)} columns, tip {fleet.tip[:12]}; "
                        f"Argo CD {fleet.argo.state} ({fleet.argo.detail}); ECR {fleet.registry.state} "
                        f"({fleet.registry.detail})")
    label = src.slug or redact_url(src.url)
    page = html.render(fleet, title=title, web=src.web, slug=src.slug, repo_label=label, run_url=action.run_url())
    summary = markdown.render(fleet, web=src.web, slug=src.slug, repo_label=label)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "index.html").write_text(page, encoding="utf-8")
        (out_dir / "board.md").write_text(summary, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Cannot write the board to {out_dir}: {exc}.", "set `output-dir` to a writable directory.",
                        input_name="output-dir")
    elapsed = time.monotonic() - started
    tally = counts(fleet)
    action.info(f"board written to {out_dir / 'index.html'} in {elapsed:.2f}s; markers: "
                + (", ".join(f"{k} {v}" for k, v in tally.items()) or "none"))
    action.summary.text(summary)
    action.set_output("html-path", str(out_dir / "index.html"))
    action.set_output("markdown-path", str(out_dir / "board.md"))
    action.set_output("services", len(fleet.services))
    action.set_output("columns", json.dumps([f"{e}/{c}" if c else e for e, c in fleet.columns]))
    action.set_output("markers", json.dumps(tally, sort_keys=True))
    action.set_output("argocd-state", fleet.argo.state)
    action.set_output("tip", fleet.tip)
