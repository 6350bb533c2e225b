"""Pure parts of the board: overlay layout, behind/drift logic, escaping, and the palette's WCAG AA contrast."""

from __future__ import annotations

import html as std_html

import pytest

from shipyard.board import html, markdown
from shipyard.fleetview.argo import ArgoView, LiveApp, parse_app
from shipyard.fleetview.configrepo import Commit
from shipyard.fleetview.fleet import Cell, compare_live, compute_behind, join
from shipyard.fleetview.layout import Slot, parse_layout
from shipyard.fleetview.overlays import Build, Image, Overlay, image_entry
from shipyard.fleetview.registry import RegistryView, ecr_repo
from shipyard.runtime import UserError

D = {n: "sha256:" + str(n) * 64 for n in range(1, 6)}


def luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("name", sorted(html.PALETTE))
def test_every_palette_pair_meets_wcag_aa(name: str) -> None:
    fg, bg = html.PALETTE[name]
    assert contrast(fg, bg) >= 4.5, f"{name}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


def test_contrast_function_is_right() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") < 4.5  # the classic failing grey


def test_css_uses_only_checked_pairs_for_text_on_state_backgrounds() -> None:
    css = html.css()
    for tone in ("ok", "warn", "bad", "unknown"):
        fg, bg = html.PALETTE[tone]
        assert f"td.{tone}{{background:{bg};color:{fg}}}" in css
        assert f"td.{tone} a{{color:{html.PALETTE[tone + '-link'][0]}}}" in css


def test_layout_pattern_matches_and_rejects() -> None:
    layout = parse_layout("apps/{service}/overlays/{env}/{cluster}/kustomization.yaml")
    assert layout.match("apps/orders/overlays/prd/eu1/kustomization.yaml") == Slot("orders", "prd", "eu1")
    assert layout.match("apps/orders/overlays/prd/kustomization.yaml") is None
    assert layout.match("apps/Or ders/overlays/prd/eu1/kustomization.yaml") is None
    assert layout.prefix() == "apps/"
    for bad in ("apps/{svc}/{env}/k.yaml", "apps/{service}/k.yaml", "../{service}/{env}.yaml", "/{service}/{env}"):
        with pytest.raises(UserError) as err:
            parse_layout(bad)
        assert err.value.input_name == "layout"


def test_image_entry_picks_the_service_or_the_only_entry() -> None:
    text = "images:\n  - name: sidecar\n    newTag: '9'\n  - name: orders\n    newName: r/orders\n    newTag: 1.10\n"
    image, _ = image_entry(text, "orders", "k.yaml")
    assert image == Image("orders", "r/orders", "1.10", None)  # Kustomize reads tags as strings
    image, problem = image_entry("images: [{name: x, newTag: a}]\n", "orders", "k.yaml")
    assert image is not None and image.tag == "a" and not problem
    image, problem = image_entry("resources: []\n", "orders", "k.yaml")
    assert image is None and "no `images:` entry" in problem
    image, problem = image_entry("images: [\n", "orders", "k.yaml")
    assert image is None and "not valid YAML" in problem


def overlay(service: str, env: str, builds: list[int], now: float = 1_000_000.0) -> Overlay:
    slot = Slot(service, env, "eu1")
    bs = [Build(Image(service, f"r/{service}", f"1.0.{n}", D[n]), Commit(f"{n:040d}", now - (10 - n) * 86400, "", ""))
          for n in reversed(builds)]
    return Overlay(slot, f"apps/{service}/overlays/{env}/eu1/kustomization.yaml", bs[0].image, "", bs)


def test_behind_counts_builds_and_days_since_the_first_missing_build() -> None:
    now = 1_000_000.0
    dev = overlay("orders", "dev", [1, 2, 3, 4, 5], now)
    prd = overlay("orders", "prd", [1, 2], now)
    behind = compute_behind(dev, prd, now)
    assert behind is not None and behind.builds == 3
    assert behind.days == pytest.approx(7.0)  # build 3 reached dev 7 days ago
    assert compute_behind(dev, overlay("orders", "prd", [5], now), now) is None
    stranger = Overlay(Slot("orders", "prd", "eu1"), "p", Image("orders", "r/orders", "hotfix", "sha256:" + "f" * 64))
    differs = compute_behind(dev, stranger, now)
    assert differs is not None and differs.builds is None


def live(images: list[str], sync: str = "Synced", health: str = "Healthy") -> LiveApp:
    return LiveApp("a", "argocd", "default", "", [], sync, health, "", "", images, "", None)


def test_live_images_match_drift_or_no_live_pod() -> None:
    cell = Cell(Slot("orders", "prd", "eu1"), overlay("orders", "prd", [2]))
    cell.app = live([f"r/orders:1.0.2@{D[2]}", "r/sidecar:1"])
    compare_live(cell)
    assert cell.live == "match"
    cell.app = live([f"r/orders:1.0.1@{D[1]}"])
    compare_live(cell)
    assert cell.live == "drift" and cell.running == [f"r/orders:1.0.1@{D[1]}"]
    cell.app = live([])  # a CronJob between runs: Argo CD lists images of live pods only
    compare_live(cell)
    assert cell.live == "no-live-pod"
    cell.app = live(["r/sidecar:1"])
    compare_live(cell)
    assert cell.live == "no-live-pod"


def test_markers_when_argo_is_unknown_are_unknown_not_drift() -> None:
    o = overlay("orders", "prd", [2])
    fleet = join([o], ArgoView("unreachable", "down"), RegistryView("off"), tip="t" * 40, branch="main", now=1e6,
                 source_env="dev", target_env="prd", app_name="{service}-{env}-{cluster}")
    cell = fleet.cells[o.slot]
    assert [m.kind for m in cell.markers] == ["unknown"]


def test_parse_app_reads_paths_images_and_healthy_since() -> None:
    app = parse_app({"metadata": {"name": "orders-prd"}, "spec": {"source": {"path": "apps/orders/overlays/prd/"}},
                     "status": {"sync": {"status": "Synced", "revision": "abc"},
                                "health": {"status": "Healthy", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                                "summary": {"images": ["r/orders:1"]}}})
    assert app.paths == ["apps/orders/overlays/prd"] and app.images == ["r/orders:1"] and app.revision == "abc"
    assert app.healthy_since is not None and app.healthy_since.year == 2026


def test_ecr_repository_from_image_name() -> None:
    repo = ecr_repo("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders")
    assert repo is not None and (repo.account, repo.region, repo.name) == ("123456789012", "eu-west-1", "team/orders")
    assert ecr_repo("ghcr.io/acme/orders") is None


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>|**bold** [x](javascript:alert(3))\nnext'


def test_markdown_escape_neutralises_html_tables_and_links() -> None:
    out = markdown.md(HOSTILE)
    assert "<" not in out and ">" not in out and "\n" not in out
    assert "|" not in out.replace("\\|", "")
    assert "[x](" not in out and "**bold**" not in out


def test_html_escape_covers_attributes() -> None:
    out = html.esc(HOSTILE)
    assert "<" not in out and '"' not in out
    assert std_html.unescape(out) == HOSTILE


def test_only_http_links_survive() -> None:
    from shipyard.board.view import safe_url

    assert safe_url("https://github.com/acme/x/actions/runs/1") == "https://github.com/acme/x/actions/runs/1"
    for bad in ("javascript:alert(1)", "https://x/\"onmouseover=1", "data:text/html,x", "https://a b", ""):
        assert safe_url(bad) == ""
    from shipyard.board.view import short_digest

    assert short_digest(D[1]) == "1" * 12 and short_digest(None) == ""
