"""Reusable workflows, org workflow templates and the root action: generated files current, pins, permissions,
and templates that render and validate the way GitHub will use them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
TEMPLATES = ROOT / "workflow-templates"
sys.path.insert(0, str(ROOT / "scripts"))
import gen_workflows  # noqa: E402

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads a bare `on` as true
        data["on"] = data.pop(True)
    return data


def all_uses() -> list[tuple[Path, str, str]]:
    found = []
    files = [*WORKFLOWS.glob("*.yml"), *TEMPLATES.glob("*.yml"), ROOT / "action.yml",
             *(ROOT / "actions").glob("*/action.yml")]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if m:
                found.append((path, m.group(1), m.group(2)))
    return found


def test_generated_workflows_and_templates_are_current() -> None:
    assert gen_workflows.main(["--check"]) == 0, "run python scripts/gen_workflows.py"


def _own(ref: str) -> bool:
    return ref.startswith("./") or ref.startswith("shipyard/shipyard")


THIRD_PARTY = [u for u in all_uses() if not _own(u[1])]


def test_every_uses_is_either_third_party_or_ours() -> None:
    ours = sorted({(p.relative_to(ROOT).as_posix(), ref) for p, ref, _ in all_uses() if _own(ref)})
    # our own references: the root action from the pipeline workflows, a local call of pipeline.yml, the selftest
    # workflow's local action, and the templates' call of a wrapper or stage (the service pins it, usually to a
    # release SHA)
    unexpected = [
        (path, ref) for path, ref in ours
        if not ((ref == "shipyard/shipyard@v1" and re.fullmatch(r"\.github/workflows/pipeline(-[a-z]+)?\.yml", path))
                or (ref == "./.github/workflows/pipeline.yml" and path.startswith(".github/workflows/pipeline-"))
                or (ref.startswith("./actions/") and path.startswith(".github/workflows/"))
                or (re.fullmatch(r"shipyard/shipyard/(\.github/workflows/pipeline-[a-z]+\.yml|actions/[a-z-]+)@v1", ref)
                    and path.startswith("workflow-templates/")))
    ]
    assert ours and not unexpected, unexpected
    assert len(THIRD_PARTY) >= 2


@pytest.mark.parametrize("path,ref,rest", THIRD_PARTY, ids=lambda v: str(v)[-40:] if isinstance(v, Path) else None)
def test_third_party_actions_are_pinned_by_sha_with_a_version_comment(path: Path, ref: str, rest: str) -> None:
    assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
    assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"{path.name}: {ref} has no '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflows_grant_least_privilege(path: Path) -> None:
    doc = load(path)
    assert doc.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} declares no permissions"
        if "steps" in job:
            assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout-minutes"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert "persist-credentials" in (step.get("with") or {}), f"{path.name}: checkout keeps credentials"


def test_language_workflows_are_pipeline_yml_with_the_language_preset() -> None:
    """Self-contained (no nested ./ call, whose resolution from another repository is disputed): the same inputs
    but `language`, the same secrets and outputs, the same job with the language fixed."""
    base = load(WORKFLOWS / "pipeline.yml")
    call = base["on"]["workflow_call"]
    base_step = next(s for s in base["jobs"]["ship"]["steps"] if s.get("id") == "pipeline")
    for lang in gen_workflows.LANGUAGES:
        doc = load(WORKFLOWS / f"pipeline-{lang.key}.yml")
        own = doc["on"]["workflow_call"]
        assert set(own["inputs"]) == set(call["inputs"]) - {"language"}
        assert own["secrets"] == call["secrets"] and own["outputs"] == call["outputs"]
        assert "uses" not in doc["jobs"]["ship"]
        step = next(s for s in doc["jobs"]["ship"]["steps"] if s.get("id") == "pipeline")
        assert step["with"] == {**base_step["with"], "language": lang.language}
        assert doc["jobs"]["ship"]["steps"][:-1] == base["jobs"]["ship"]["steps"][:-1]


def test_pipeline_workflow_passes_only_root_action_inputs() -> None:
    root_inputs = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    step = next(s for s in load(WORKFLOWS / "pipeline.yml")["jobs"]["ship"]["steps"] if s.get("id") == "pipeline")
    assert step["uses"] == "shipyard/shipyard@v1"
    unknown = set(step["with"]) - root_inputs
    assert not unknown, f"pipeline.yml passes inputs the root action does not have: {unknown}"
    # and every root-action input is reachable from the reusable workflows (issue 13: 28 were not)
    assert set(step["with"]) == root_inputs


def test_private_repositories_mirror_by_default_through_the_reusable_workflow() -> None:
    doc = load(WORKFLOWS / "pipeline.yml")
    step = next(s for s in doc["jobs"]["ship"]["steps"] if s.get("id") == "pipeline")
    assert step["with"]["bitbucket-source-token"] == "${{ secrets.BITBUCKET_SOURCE_TOKEN || github.token }}"
    call = doc["on"]["workflow_call"]
    assert {"bitbucket-username", "bitbucket-auth", "container-image"} <= set(call["inputs"])
    assert call["inputs"]["container-image"]["default"] == ""
    assert doc["jobs"]["ship"]["container"] == {"image": "${{ inputs.container-image }}",
                                                 "options": "${{ inputs.container-options }}"}
    assert call["inputs"]["container-options"]["default"] == "--privileged"  # buildah in a job container


@pytest.mark.parametrize("path", [WORKFLOWS / f"pipeline-{lang.key}.yml" for lang in gen_workflows.LANGUAGES]
                         + [WORKFLOWS / "pipeline.yml"] + [TEMPLATES / f"shipyard-{lang.key}.yml" for lang in gen_workflows.LANGUAGES],
                         ids=lambda p: p.name)
def test_id_token_write_says_why(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*id-token: write", line)]
    assert lines and all("# GitHub OIDC for the ECR role" in line for line in lines), lines


@pytest.mark.parametrize("lang", gen_workflows.LANGUAGES, ids=lambda lang: lang.key)
def test_template_properties(lang: Any) -> None:
    props = json.loads((TEMPLATES / f"shipyard-{lang.key}.properties.json").read_text())
    assert props["name"] and props["description"]
    assert (TEMPLATES / f"{props['iconName']}.svg").exists(), "iconName names an SVG beside the template"
    assert all(isinstance(c, str) and c for c in props["categories"])
    for pattern in props["filePatterns"]:
        re.compile(pattern)


@pytest.mark.parametrize(
    "lang_key,example",
    [("java", "java-service"), ("node", "node-service"), ("go", "go-service"), ("python", "python-service"),
     ("kotlin", "kotlin-service"), ("swift", "swift-service")],
)
def test_template_file_patterns_match_the_examples(lang_key: str, example: str) -> None:
    folder = ROOT / "examples" / example
    if not folder.exists():
        pytest.skip(f"examples/{example} not present")
    props = json.loads((TEMPLATES / f"shipyard-{lang_key}.properties.json").read_text())
    names = [p.name for p in folder.iterdir()]
    assert any(re.search(pattern, n) for pattern in props["filePatterns"] for n in names), (lang_key, names)


LANGUAGE_TEMPLATES = [TEMPLATES / f"shipyard-{lang.key}.yml" for lang in gen_workflows.LANGUAGES]


@pytest.mark.parametrize("path", LANGUAGE_TEMPLATES, ids=lambda p: p.name)
def test_templates_render_like_github_and_validate(path: Path, tmp_path: Path) -> None:
    rendered = path.read_text().replace("$default-branch", "main")
    out = tmp_path / path.name
    out.write_text(rendered)
    result = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(out)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = load(out)
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["permissions"] == {}
    job = doc["jobs"]["ship"]
    assert job["uses"].startswith("shipyard/shipyard/.github/workflows/pipeline-")
    assert "inherit" not in str(job.get("secrets")), "templates pass named secrets, never `secrets: inherit`"


def test_independent_stages_in_the_root_action() -> None:
    """The mirror runs after a failed stage (not on cancel); Postman follows the deploy, never the mirror."""
    steps = {s["id"]: s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]}
    assert "!cancelled()" in steps["bitbucket"]["if"] and "steps.build" not in steps["bitbucket"]["if"]
    postman = steps["postman"]["if"]
    assert "!cancelled()" in postman and "steps.bitbucket" not in postman
    assert "steps.build.outcome == 'success'" in postman and "steps.ecr-push.outcome != 'failure'" in postman
