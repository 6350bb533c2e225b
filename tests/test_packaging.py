"""What the wheel ships for the code that reads files at run time: the fleet stage's org templates
(``shipyard/_workflow_templates``) and the actions (``shipyard/_actions``), and where the code looks for them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from shipyard.fleet import templates

ROOT = Path(__file__).resolve().parent.parent


def _build_wheel(out: Path) -> Path:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed (requirements/dev.txt)")
    command = [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(ROOT)]
    result = subprocess.run([*command[:2], "--offline", *command[2:]], capture_output=True, text=True, timeout=60,
                            check=False)
    if result.returncode != 0:  # the build backend (hatchling) is not in uv's cache yet: fetch it once
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0 and "hatchling" in result.stderr and ("network" in result.stderr.lower()
                                                                        or "connect" in result.stderr.lower()):
            pytest.skip(f"the build backend cannot be fetched here: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, result.stderr
    wheels = list(out.glob("shipyard-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_every_workflow_template_and_action(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        shipped = sorted(p for p in (ROOT / "workflow-templates").iterdir() if p.is_file())
        assert any(p.name == "shipyard-go.yml" for p in shipped)
        for path in shipped:
            inside = f"shipyard/_workflow_templates/{path.name}"
            assert inside in names, f"{inside} missing from the wheel"
            assert z.read(inside) == path.read_bytes()
        for action in (ROOT / "actions").glob("*/action.yml"):
            assert f"shipyard/_actions/{action.parent.name}/action.yml" in names


def test_installed_from_the_wheel_the_fleet_stage_finds_its_own_templates(wheel: Path, tmp_path: Path) -> None:
    """Unpacked like an installed wheel, away from any checkout and without SHIPYARD_ROOT: the packed templates."""
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = ("from shipyard.fleet import templates; print(templates.find()); "
            "print(sorted(templates.load()))")
    env = {k: v for k, v in os.environ.items() if k not in ("SHIPYARD_ROOT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    found, keys = result.stdout.splitlines()
    assert Path(found) == site / "shipyard" / "_workflow_templates"
    assert eval(keys) == sorted(templates.LANGUAGE_KEYS)  # noqa: S307 - our own printed list


def _template_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "shipyard-go.yml").write_text("on: push\njobs: {ship: {runs-on: x, steps: []}}\n", encoding="utf-8")
    return path


def test_lookup_order_packed_templates_then_shipyard_root_then_the_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "checkout"
    module = checkout / "src" / "shipyard" / "fleet" / "templates.py"
    monkeypatch.setattr(templates, "__file__", str(module))
    monkeypatch.delenv("SHIPYARD_ROOT", raising=False)
    with pytest.raises(templates.UserError, match="No Shipyard workflow templates"):
        templates.find()
    in_checkout = _template_folder(checkout / "workflow-templates")
    assert templates.find() == in_checkout
    root = tmp_path / "action-root"
    monkeypatch.setenv("SHIPYARD_ROOT", str(root))
    in_root = _template_folder(root / "workflow-templates")
    assert templates.find() == in_root
    packed = _template_folder(checkout / "src" / "shipyard" / "_workflow_templates")
    assert templates.find() == packed
    assert templates.candidates()[0] == packed
    # an explicit `templates` input wins over all of them
    explicit = _template_folder(tmp_path / "mine")
    assert templates.find(explicit) == explicit
