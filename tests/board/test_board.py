"""The deploy board end to end: the fleet on the git server, Argo CD double and moto ECR; the page in Chromium.

Screenshots (desktop and phone widths) are kept under test-artifacts/board/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.board.stage import run
from tests.board.cdp import Browser, chromium_path
from tests.board.conftest import Fleet, StageRun, aws_env, board_inputs, run_in_process
from tests.board.fleetfix import HOSTILE, HOSTILE_TAG, PLAN, SERVICES, digest, tag
from tests.stack.ports import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "board"


@pytest.fixture(scope="module")
def board(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[StageRun, Path]:
    out = tmp_path_factory.mktemp("board")
    result = run_in_process(run, "deploy-board", board_inputs(fleet, out), aws_env(fleet))
    assert result.code == 0, result.log
    return result, out


def test_outputs_and_marker_counts(board: tuple[StageRun, Path], fleet: Fleet) -> None:
    result, out = board
    assert result.outputs["services"] == str(len(SERVICES))
    assert json.loads(result.outputs["columns"]) == ["dev/eu1", "dev/us1", "prd/eu1", "prd/us1"]
    assert result.outputs["argocd-state"] == "ok"
    assert result.outputs["tip"] == fleet.repo.tip()
    markers = json.loads(result.outputs["markers"])
    # behind: orders, billing, catalog, checkout, inventory, search (x2 clusters); drift: cart prd/us1 only
    assert markers == {"behind": 12, "drift": 1, "out-of-sync": 1, "degraded": 1, "critical": 2,
                       "missing-image": 2, "no-live-pod": 4}
    assert fleet.argo_token not in result.log and fleet.repo.token not in result.log
    assert Path(result.outputs["html-path"]) == out / "index.html"


def test_markdown_summary_is_escaped_and_has_the_pie(board: tuple[StageRun, Path]) -> None:
    result, out = board
    md = (out / "board.md").read_text()
    assert md in result.summary
    assert "```mermaid\npie showData title Markers across the fleet" in md
    assert "behind dev/eu1 by 3 builds" in md  # orders
    assert "<img" not in md and "<b>" not in md and "**x**" not in md
    assert "1.0.3-&lt;b&gt;x&lt;/b&gt;" in md
    rows = [line for line in md.splitlines() if line.startswith("| **")]
    assert len(rows) == len(SERVICES) and all(line.count(" | ") == 4 for line in rows)


def test_page_is_self_contained(board: tuple[StageRun, Path]) -> None:
    page = (board[1] / "index.html").read_text()
    assert "<link" not in page and "src=" not in page.replace('src=x onerror', "")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert HOSTILE not in page and HOSTILE_TAG not in page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        pytest.fail("chromium is missing: scripts/setup.sh installs it (apt-get install -y chromium)")
    b = Browser()
    try:
        yield b
    finally:
        b.close()


def cells(b: Browser) -> dict[str, dict[str, Any]]:
    return b.evaluate("""(() => { const out = {}; const heads = [...document.querySelectorAll('thead th')]
        .slice(1).map(h => h.textContent.replace(/\\s/g, ''));
      document.querySelectorAll('tbody tr').forEach(r => { const svc = r.querySelector('th').textContent;
        [...r.querySelectorAll('td')].forEach((c, i) => { out[svc + ' ' + heads[i]] = {
          tag: c.querySelector('.tag').textContent, digest: c.querySelector('code').textContent,
          markers: c.getAttribute('data-markers'), cls: c.className,
          badges: [...c.querySelectorAll('li.m')].map(m => m.textContent),
          links: [...c.querySelectorAll('.links a')].map(a => a.textContent + '=' + a.href) }; }); });
      return out; })()""")


def test_browser_renders_the_fixture_with_markers(board: tuple[StageRun, Path], browser: Browser,
                                                  fleet: Fleet) -> None:
    url = (board[1] / "index.html").as_uri()
    browser.load(url, 1366, 900)
    browser.screenshot(ARTIFACTS / "board-desktop.png")
    got = cells(browser)
    assert len(got) == len(SERVICES) * 4
    for svc in SERVICES:
        dev, prd = PLAN[svc]
        for cl in ("eu1", "us1"):
            assert got[f"{svc} dev/{cl}"]["tag"] == tag(svc, dev)
            assert got[f"{svc} dev/{cl}"]["digest"] == digest(svc, dev)[7:19]
            assert got[f"{svc} prd/{cl}"]["tag"] == tag(svc, prd)
    orders = got["orders prd/eu1"]
    assert orders["markers"] == "behind" and orders["cls"] == "warn"
    assert any(b.startswith("! behind 3 builds") for b in orders["badges"]), orders["badges"]
    assert got["cart prd/us1"]["markers"] == "drift" and got["cart prd/us1"]["cls"] == "bad"
    assert got["cart prd/eu1"]["markers"] == ""
    assert "out-of-sync" in got["search dev/eu1"]["markers"] and got["search dev/us1"]["markers"] == ""
    assert got["checkout prd/eu1"]["markers"].split() == ["degraded", "behind"]
    assert got["billing dev/eu1"]["markers"] == "critical"
    assert got["inventory dev/us1"]["markers"] == "missing-image"
    assert got["notify prd/us1"]["markers"] == "no-live-pod"  # a CronJob: not drift
    assert got["payments prd/eu1"]["markers"] == "" and got["payments prd/eu1"]["cls"] == "ok"
    links = dict(link.split("=", 1) for link in got["orders dev/eu1"]["links"])
    assert links["run"] == "https://github.com/acme/orders/actions/runs/1005"
    assert links["commit"].endswith(f"/acme/config/commit/{fleet.repo.commits[('orders', 'dev', 5)]}")
    assert any(link.startswith("PR #48=") for link in got["orders prd/eu1"]["links"])
    # hostile text from git and Argo CD is shown as text, never run or parsed
    assert browser.evaluate("window.__pwned === undefined && document.querySelectorAll('tbody img, tbody b').length")\
        == 0
    assert got["gateway dev/eu1"]["tag"] == HOSTILE_TAG
    assert got["gateway prd/eu1"]["markers"] == ""  # the odd tag still matches what the cluster runs


def test_browser_phone_width_screenshot_and_sticky_service_column(board: tuple[StageRun, Path],
                                                                  browser: Browser) -> None:
    browser.load((board[1] / "index.html").as_uri(), 390, 844, mobile=True)
    browser.screenshot(ARTIFACTS / "board-phone.png")
    # the page fits the phone; only the table scrolls sideways inside its wrapper
    assert browser.evaluate("window.innerWidth") == 390
    assert browser.evaluate("document.documentElement.scrollWidth") <= 391
    assert browser.evaluate("(() => { const w = document.querySelector('.wrap'); "
                            "return w.scrollWidth > w.clientWidth; })()")
    assert browser.evaluate("getComputedStyle(document.querySelector('tbody th')).position") == "sticky"
    assert (ARTIFACTS / "board-phone.png").stat().st_size > 10_000


def set_control(b: Browser, ident: str, value: str) -> None:
    b.evaluate(f"(() => {{ const el = document.getElementById({json.dumps(ident)}); el.value = {json.dumps(value)}; "
               "el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); })()")


def test_search_and_filters(board: tuple[StageRun, Path], browser: Browser) -> None:
    browser.load((board[1] / "index.html").as_uri(), 1366, 900)
    visible = "[...document.querySelectorAll('tbody tr')].filter(r => !r.hidden).map(r => r.querySelector('th')" \
              ".textContent)"
    browser.evaluate("document.getElementById('q').focus()")
    browser.type("ord")
    assert browser.evaluate(visible) == ["orders"]
    assert browser.evaluate("document.getElementById('shown').textContent") == "Showing 1 of 12 services"
    set_control(browser, "q", "")
    set_control(browser, "marker", "drift")
    assert browser.evaluate(visible) == ["cart"]
    set_control(browser, "marker", "")
    set_control(browser, "env", "dev")
    browser.evaluate("(() => { const p = document.getElementById('problems'); p.checked = true; "
                     "p.dispatchEvent(new Event('change')); })()")
    assert browser.evaluate(visible) == ["billing", "inventory", "search"]
    assert browser.evaluate("[...document.querySelectorAll('thead th')].filter(h => !h.hidden).length") == 3


def test_keyboard_navigation(board: tuple[StageRun, Path], browser: Browser) -> None:
    browser.load((board[1] / "index.html").as_uri(), 1366, 900)
    active = "(() => { const c = document.activeElement; const r = c.closest('tr');" \
             " return c.tagName + ' ' + r.querySelector('th').textContent + ' ' + c.cellIndex; })()"
    assert browser.evaluate("document.querySelectorAll('td[tabindex=\"0\"]').length") == 1
    browser.evaluate("document.querySelector('td[tabindex=\"0\"]').focus()")
    assert browser.evaluate(active) == "TD accounts 1"
    browser.key("ArrowRight")
    browser.key("ArrowRight")
    browser.key("ArrowDown")
    assert browser.evaluate(active) == "TD billing 3"
    browser.key("End")
    assert browser.evaluate(active) == "TD billing 4"
    browser.key("Home")
    browser.key("ArrowUp")
    browser.key("ArrowUp")  # stays on the first row
    assert browser.evaluate(active) == "TD accounts 1"
    browser.key("Enter")
    assert browser.evaluate("document.activeElement.querySelector('details').open") is True
    assert browser.evaluate("document.querySelectorAll('td[tabindex=\"0\"]').length") == 1
    browser.key("Tab")  # Tab leaves the cell for its first link (real, trusted key events)
    assert browser.evaluate("document.activeElement.tagName + ' ' + document.activeElement.textContent") == "A commit"


def test_argo_unreachable_still_renders_from_git(fleet: Fleet, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_in_process(run, "deploy-board", board_inputs(fleet, tmp_path, **{"argocd-server": closed,
                                                                                    "timeout": "3"}), aws_env(fleet))
    assert result.code == 0, result.log
    assert result.outputs["argocd-state"] == "unreachable"
    markers = json.loads(result.outputs["markers"])
    assert markers["unknown"] == len(SERVICES) * 4
    assert "drift" not in markers and "no-live-pod" not in markers and markers["behind"] == 12
    assert "warning: Argo CD:" in result.log or "::warning" in result.log
    assert "Argo CD: **unknown**" in (tmp_path / "board.md").read_text()


def test_argo_token_refused_is_unknown_not_a_failure(fleet: Fleet, tmp_path: Path) -> None:
    result = run_in_process(run, "deploy-board", board_inputs(fleet, tmp_path, **{"argocd-token": "x.y.z"}),
                            aws_env(fleet))
    assert result.code == 0, result.log
    assert result.outputs["argocd-state"] == "unauthorized"
    assert "x.y.z" not in result.log


@pytest.mark.parametrize(("inputs", "needle"), [
    ({"layout": "apps/{svc}/k.yaml"}, "Input 'layout'"),
    ({"repository": "https://user:pw@example.com/c.git"}, "carries credentials"),
    ({"source-environment": "prd"}, "both 'prd'"),
    ({"now": "yesterday"}, "Input 'now'"),
    ({"branch": "no-such-branch"}, "has no branch 'no-such-branch'"),
])
def test_bad_input_fails_with_one_error_and_writes_nothing(fleet: Fleet, tmp_path: Path, inputs: dict[str, str],
                                                           needle: str) -> None:
    out = tmp_path / "out"
    result = run_in_process(run, "deploy-board", board_inputs(fleet, out, **inputs), aws_env(fleet))
    assert result.code == 1
    assert needle in result.log
    assert result.log.count("error:") + result.log.count("::error") == 1
    assert not out.exists()
    assert "pw" not in result.log.replace("pw@", "") or "user:pw" not in result.log


def test_ecr_without_credentials_is_a_warning_not_a_crash(fleet: Fleet, tmp_path: Path) -> None:
    inputs = board_inputs(fleet, tmp_path, **{"aws-access-key-id": "", "aws-secret-access-key": ""})
    env = {**aws_env(fleet), "AWS_ACCESS_KEY_ID": "", "HOME": str(tmp_path)}
    result = run_in_process(run, "deploy-board", inputs, env)
    assert result.code == 0, result.log
    assert "ECR: ECR could not be read: NoCredentialsError" in result.log
    markers = json.loads(result.outputs["markers"])
    assert "critical" not in markers and "missing-image" not in markers and markers["drift"] == 1
