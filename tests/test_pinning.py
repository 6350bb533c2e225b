"""Pinning that pins (docs/pinning.md): a release commit made by ``scripts/release.py pin`` runs the actions of its
code commit, wherever ``v1`` moves later.

With real git: the whole Shipyard tree is released, and the release commit is checked file by file (every
``shipyard/shipyard`` reference pinned, nothing else changed, the code byte-identical, zizmor's ``hash-pin`` policy
passes); the refusals leave nothing behind. Under act: a service repository calls ``pipeline-go.yml`` by the
release SHA and by the release tag while ``v1`` points at a later commit whose root action fails, and the
pinned code runs; calling a main commit (not a release) by SHA runs whatever ``v1`` is, which the same harness
sees, so the assertions can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.stack.act import export_tree

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "scripts" / "release.py"
sys.path.insert(0, str(ROOT / "scripts"))
import release as release_mod  # noqa: E402

VERSION = "9.8.7"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "release bot", "GIT_AUTHOR_EMAIL": "release@example.com",
    "GIT_COMMITTER_NAME": "release bot", "GIT_COMMITTER_EMAIL": "release@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}
GIT_ENV.pop("GITHUB_ACTIONS", None)
GIT_ENV.pop("GITHUB_OUTPUT", None)
GIT_ENV.pop("GITHUB_STEP_SUMMARY", None)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


def release(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RELEASE), "--repo", str(repo), *args], capture_output=True,
                          text=True, env={**GIT_ENV, **(env or {})}, check=False, timeout=60)


def refs(repo: Path) -> str:
    """Every ref and the worktree list: what a refused release must leave as it found."""
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)") + git(repo, "worktree", "list")


def init(repo: Path) -> str:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "code")
    return git(repo, "rev-parse", "HEAD").strip()


def shipped_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    return sorted(p for p in listed.split("\0") if p and (ROOT / p).is_file())


SCOPE = [p for p in shipped_files() if release_mod.pinned_scope(p)]
PIPELINES = [p for p in SCOPE if re.fullmatch(r"\.github/workflows/pipeline(-[a-z]+)?\.yml", p)]


@dataclass
class Released:
    repo: Path
    code: str
    commit: str
    stdout: str


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Released:
    """This tree (as git would ship it) committed with a CHANGELOG section for VERSION, then released."""
    repo = export_tree(tmp_path_factory.mktemp("release") / "shipyard")
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    changelog.write_text(f"{text.rstrip()}\n\n## [{VERSION}] - 2026-12-04\n", encoding="utf-8")
    code = init(repo)
    proc = release(repo, "pin", "--version", VERSION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Released(repo, code, git(repo, "rev-parse", f"v{VERSION}^{{commit}}").strip(), proc.stdout)


# ------------------------------------------------------------------------------------------------ the release
def test_the_tags_name_a_release_commit_on_top_of_the_code(released: Released) -> None:
    repo = released.repo
    assert git(repo, "rev-parse", "v9^{commit}").strip() == released.commit
    assert git(repo, "rev-list", "--parents", "-n", "1", released.commit).split() == [released.commit, released.code]
    assert git(repo, "cat-file", "-t", f"v{VERSION}").strip() == "tag"  # annotated
    assert git(repo, "rev-parse", "main").strip() == released.code, "main is left alone"
    assert git(repo, "worktree", "list").count("\n") == 1, "the release worktree is removed"
    assert not git(repo, "status", "--porcelain")
    assert f"pipeline-<language>.yml@{released.commit} # v{VERSION}" in released.stdout


def test_every_pipeline_workflow_runs_the_root_action_by_owner_repo() -> None:
    """What the release pins exists: each reusable workflow names the root action (on main, @v1)."""
    assert len(PIPELINES) >= 8, PIPELINES
    for path in PIPELINES:
        found = [m["ref"] for _, m in release_mod.own_references((ROOT / path).read_text(encoding="utf-8"))]
        assert found == ["v1"], (path, found)


@pytest.mark.parametrize("path", SCOPE)
def test_every_reference_in_the_release_is_pinned_to_the_code_commit(released: Released, path: str) -> None:
    """Every file GitHub runs from this repository, at the release commit: each ``shipyard/shipyard`` reference
    reads ``@<code sha> # vX.Y.Z``, one for one with the code commit; every other line is unchanged."""
    before = git(released.repo, "show", f"{released.code}:{path}").splitlines()
    after = git(released.repo, "show", f"{released.commit}:{path}").splitlines()
    assert len(before) == len(after)
    pinned = 0
    for old, new in zip(before, after, strict=True):
        was = release_mod.USES.fullmatch(old)
        if was is None:
            assert new == old
            continue
        pinned += 1
        now = release_mod.USES.fullmatch(new)
        assert now is not None and now["path"] == was["path"], new
        assert now["ref"] == released.code and now["rest"] == f" # v{VERSION}", new
        assert release_mod.SHA.fullmatch(now["ref"])
    assert pinned == len(release_mod.own_references("\n".join(before)))
    assert pinned == (1 if path in PIPELINES else 0), f"{path}: {pinned} references (pipelines have one, actions none)"


def test_the_release_changes_nothing_but_the_pins(released: Released) -> None:
    repo, code, commit = released.repo, released.code, released.commit
    changed = set(filter(None, git(repo, "diff", "--name-only", "-z", code, commit).split("\0")))
    assert changed == {*PIPELINES, ".github/zizmor.yml"}
    for tree in ("src", "actions", "scripts", "action.yml", "requirements", "pyproject.toml"):
        assert git(repo, "rev-parse", f"{code}:{tree}") == git(repo, "rev-parse", f"{commit}:{tree}"), tree
    policy = git(repo, "diff", code, commit, "--", ".github/zizmor.yml")
    assert '-        "shipyard/*": ref-pin' in policy and '+        "shipyard/*": hash-pin' in policy


def test_the_release_passes_zizmor_hash_pin_and_main_does_not(released: Released, tmp_path: Path) -> None:
    """zizmor's unpinned-uses with the release commit's own policy (``shipyard/*: hash-pin``): the release tree
    passes; the code commit's tree (``@v1``) under the same policy fails, so the check can fail."""
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    policy = tmp_path / "zizmor.yml"
    policy.write_text(git(released.repo, "show", f"{released.commit}:.github/zizmor.yml"), encoding="utf-8")
    results = {}
    for name, commit in (("release", released.commit), ("code", released.code)):
        tree = tmp_path / name
        tree.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=released.repo, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        results[name] = subprocess.run(
            [zizmor, "--offline", "--no-progress", "--min-severity", "low", "--config", str(policy),
             ".github/workflows", "action.yml", "actions"], cwd=tree, capture_output=True, text=True, check=False)
    assert results["release"].returncode == 0, results["release"].stdout + results["release"].stderr
    assert results["code"].returncode != 0
    flagged = set(re.findall(r"(\.github/workflows/pipeline[\w-]*\.yml)", results["code"].stdout))
    assert flagged == set(PIPELINES), flagged


def test_verify_accepts_the_release_tag(released: Released) -> None:
    proc = release(released.repo, "verify", "--tag", f"v{VERSION}")
    assert proc.returncode == 0, proc.stderr
    assert f"runs the actions of {released.code}" in proc.stdout


@pytest.mark.parametrize("tamper", ["code", "pin", "unpinned"])
def test_verify_refuses_a_tag_that_is_not_a_release_commit(released: Released, tmp_path: Path,
                                                          tamper: str) -> None:
    """A tag on a commit that changes code beside the pins, pins another commit, or pins nothing."""
    repo = tmp_path / "repo"
    git(tmp_path, "clone", "-q", str(released.repo), str(repo))
    workflow = repo / PIPELINES[0]
    if tamper == "code":
        git(repo, "checkout", "-q", "--detach", released.commit)
        (repo / "src" / "shipyard" / "__init__.py").write_text("# changed\n", encoding="utf-8")
        expected = "src/shipyard/__init__.py differs from the code commit"
    elif tamper == "pin":
        git(repo, "checkout", "-q", "--detach", released.commit)
        workflow.write_text(workflow.read_text().replace(released.code, "1" * 40), encoding="utf-8")
        expected = "is not a pin"
    else:
        git(repo, "checkout", "-q", "--detach", released.code)
        (repo / "README.md").write_text("release notes\n", encoding="utf-8")
        expected = "is not pinned to"
    git(repo, "commit", "-qam", "tampered")
    git(repo, "tag", "v9.9.9")
    proc = release(repo, "verify", "--tag", "v9.9.9")
    assert proc.returncode == 1
    assert expected in proc.stderr and "Fix: cut releases with" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------------------ refusals
def small_repo(root: Path, workflow: str, changelog: str = f"## [{VERSION}] - 2026-12-04\n") -> Path:
    repo = root / "shipyard"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "pipeline.yml").write_text(textwrap.dedent(workflow), encoding="utf-8")
    (repo / "CHANGELOG.md").write_text(f"# Changelog\n\n{changelog}", encoding="utf-8")
    (repo / "action.yml").write_text("name: x\ndescription: x\nruns:\n  using: composite\n  steps: []\n")
    init(repo)
    return repo


CALLS_ROOT = """\
    on: workflow_call
    jobs:
      ship:
        runs-on: ubuntu-latest
        steps:
          - uses: shipyard/shipyard@v1
    """


@pytest.mark.parametrize("version,expected", [
    ("1.2", "version must be X.Y.Z"), ("v9.8.7", "version must be X.Y.Z"), ("9.8.7\n", "version must be X.Y.Z"),
    ("09.8.7", "version must be X.Y.Z"), ("-9.8.7", "version must be X.Y.Z"),
    ("9.8.8", "has no '## [9.8.8]' section"),
])
def test_refusals_leave_nothing_behind(tmp_path: Path, version: str, expected: str) -> None:
    repo = small_repo(tmp_path, CALLS_ROOT)
    before = refs(repo)
    proc = release(repo, "pin", f"--version={version}")
    assert proc.returncode == 1
    assert expected in proc.stderr and "Fix: " in proc.stderr, proc.stderr
    assert refs(repo) == before


@pytest.mark.parametrize("case", ["existing tag", "own reusable workflow", "nothing to pin", "bad commit"])
def test_refusals_of_the_repository_state(tmp_path: Path, case: str) -> None:
    workflow, args = CALLS_ROOT, ["pin", "--version", VERSION]
    if case == "own reusable workflow":
        workflow = CALLS_ROOT.replace("        runs-on: ubuntu-latest\n        steps:\n          - uses: shipyard/shipyard@v1",
                                      "        uses: shipyard/shipyard/.github/workflows/pipeline-go.yml@v1")
        expected = "cannot be pinned to the release commit that contains it"
    elif case == "nothing to pin":
        workflow = CALLS_ROOT.replace("shipyard/shipyard@v1", "./")
        expected = "nothing to pin"
    elif case == "bad commit":
        args += ["--commit=--upload-pack=touch pwned"]
        expected = "is not a commit"
    else:
        expected = f"tag v{VERSION} exists"
    repo = small_repo(tmp_path, workflow)
    if case == "existing tag":
        git(repo, "tag", f"v{VERSION}")
    before = refs(repo)
    proc = release(repo, *args)
    assert proc.returncode == 1
    assert expected in proc.stderr and "Fix: " in proc.stderr, proc.stderr
    assert refs(repo) == before
    assert not (repo / "pwned").exists()


def test_in_a_workflow_the_error_is_an_annotation(tmp_path: Path) -> None:
    repo = small_repo(tmp_path, CALLS_ROOT)
    proc = release(repo, "pin", "--version", "9.9.9", env={"GITHUB_ACTIONS": "true"})
    assert proc.returncode == 1 and proc.stderr.startswith("::error::CHANGELOG.md at "), proc.stderr


def test_pin_writes_outputs_and_a_summary(tmp_path: Path) -> None:
    repo = small_repo(tmp_path, CALLS_ROOT)
    output, summary = tmp_path / "output", tmp_path / "summary"
    proc = release(repo, "pin", "--version", VERSION,
                   env={"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stderr
    code = git(repo, "rev-parse", "main").strip()
    commit = git(repo, "rev-parse", f"v{VERSION}^{{commit}}").strip()
    assert output.read_text() == f"release-commit={commit}\ncode-commit={code}\n"
    assert "```mermaid\ngitGraph" in summary.read_text() and f"@{commit} # v{VERSION}" in summary.read_text()


def test_push_sends_both_tags_to_the_remote(tmp_path: Path) -> None:
    repo = small_repo(tmp_path, CALLS_ROOT)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(remote, "tag", "v9", "main")  # the major tag of an earlier release
    proc = release(repo, "pin", "--version", VERSION, "--push")
    assert proc.returncode == 0, proc.stderr
    commit = git(repo, "rev-parse", f"v{VERSION}^{{commit}}").strip()
    assert git(remote, "rev-parse", f"v{VERSION}^{{commit}}").strip() == commit
    assert git(remote, "rev-parse", "v9^{commit}").strip() == commit


@pytest.mark.parametrize("line,expected", [
    ("      - uses: shipyard/shipyard@v1", "      - uses: shipyard/shipyard@{sha} # v9.8.7"),
    ("        uses: 'shipyard/shipyard/actions/build@v1' # old", "        uses: shipyard/shipyard/actions/build@{sha} # v9.8.7"),
    ('  - uses: "shipyard/shipyard@main"', "  - uses: shipyard/shipyard@{sha} # v9.8.7"),
    ("      - uses: shipyard/shipyard-extras@v1", "      - uses: shipyard/shipyard-extras@v1"),
    ("      - uses: acme/shipyard/shipyard@v1", "      - uses: acme/shipyard/shipyard@v1"),
    ("        run: echo uses: shipyard/shipyard@v1", "        run: echo uses: shipyard/shipyard@v1"),
])
def test_rewrite_pins_our_references_only(line: str, expected: str) -> None:
    sha = "a" * 40
    assert release_mod.rewrite("x.yml", line + "\n", sha, VERSION) == expected.format(sha=sha) + "\n"


# ------------------------------------------------------------------------------------------------ under act
@dataclass
class Fixture:
    root: Path
    code: str  # the released code commit C
    commit: str  # the release commit R (tag v1.4.0)
    resolved: dict[str, Path]  # ref -> the tree GitHub would fetch for it


@pytest.fixture(scope="module")
def act_fixture(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """A Shipyard repository with this tree's pipeline-go.yml and a root action that says which code it is:
    C, released as v1.4.0 (R), then a later main commit D whose root action fails, with v1 moved to D."""
    root = tmp_path_factory.mktemp("pin-act")
    repo = root / "shipyard"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / ".github" / "workflows" / "pipeline-go.yml", repo / ".github" / "workflows")
    shutil.copy(ROOT / ".github" / "zizmor.yml", repo / ".github")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [1.4.0] - 2026-12-04\n", encoding="utf-8")
    stub = textwrap.dedent("""\
        name: root action stand-in
        description: says which commit's code runs
        runs:
          using: composite
          steps:
            - shell: bash
              run: |
                echo "shipyard code: {marker}"
                {exit}
        """)
    (repo / "action.yml").write_text(stub.format(marker="released-1.4.0", exit="true"), encoding="utf-8")
    code = init(repo)
    proc = release(repo, "pin", "--version", "1.4.0")
    assert proc.returncode == 0, proc.stderr
    commit = git(repo, "rev-parse", "v1.4.0^{commit}").strip()
    (repo / "action.yml").write_text(stub.format(marker="later-v1", exit="exit 1"), encoding="utf-8")
    git(repo, "commit", "-qam", "later work on main")
    git(repo, "tag", "-f", "v1", "main")
    resolved = {}
    for ref in (code, commit, "v1.4.0", "v1"):  # GitHub's part: a ref names a tree of this repository
        tree = root / "resolved" / ref
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", ref], cwd=repo, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        resolved[ref] = tree
    checkout = root / "checkout"
    checkout.mkdir()
    (checkout / "action.yml").write_text(textwrap.dedent("""\
        name: checkout stand-in
        description: nothing to check out for this test
        inputs:
          persist-credentials:
            description: ignored
            default: "false"
        runs:
          using: composite
          steps:
            - shell: bash
              run: echo "checkout skipped"
        """), encoding="utf-8")
    return Fixture(root, code, commit, resolved)


def run_service(fx: Fixture, ref: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The org template for Go services, committed in a service repository with its pin set to ``ref``."""
    template = (ROOT / "workflow-templates" / "shipyard-go.yml").read_text(encoding="utf-8")
    assert "pipeline-go.yml@v1\n" in template
    service = tmp_path / "service"
    (service / ".github" / "workflows").mkdir(parents=True)
    (service / ".github" / "workflows" / "ship.yml").write_text(
        template.replace("pipeline-go.yml@v1\n", f"pipeline-go.yml@{ref}\n").replace("$default-branch", "main"),
        encoding="utf-8")
    init(service)
    variables = tmp_path / "vars"
    variables.write_text("SHIPYARD_AWS_REGION=eu-west-1\nSHIPYARD_ECR_ROLE=arn:aws:iam::123456789012:role/ecr\n")
    steps = yaml.safe_load((fx.resolved[fx.code] / ".github" / "workflows" / "pipeline-go.yml").read_text())
    third_party = [s.get("uses", "") for s in steps["jobs"]["ship"]["steps"]]
    checkout = next(u for u in third_party if u.startswith("actions/checkout@"))
    cache = next(u for u in third_party if u.startswith("actions/cache/restore@")).replace("/restore@", "@")
    args = ["act", "push", "-W", ".github/workflows/ship.yml", "-P", "ubuntu-latest=-self-hosted",
            "--var-file", str(variables), "--secret-file", os.devnull, "--env-file", os.devnull,
            "--input-file", os.devnull, "--no-cache-server", "--action-offline-mode",
            "--action-cache-path", str(tmp_path / "act-cache"),
            "--local-repository", f"{checkout}={fx.root / 'checkout'}",
            "--local-repository", f"{cache}={ROOT / 'tests' / 'pipeline' / 'cache'}"]
    for name, tree in fx.resolved.items():
        args += ["--local-repository", f"shipyard/shipyard@{name}={tree}"]
    return subprocess.run(args, cwd=service, capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL, env={**os.environ, "HOME": str(tmp_path)})


@pytest.mark.act
@pytest.mark.parametrize("pin", ["release SHA", "release tag"])
def test_a_pinned_service_runs_the_released_actions_while_v1_moves_on(act_fixture: Fixture, tmp_path: Path,
                                                                      pin: str) -> None:
    fx = act_fixture
    ref = fx.commit if pin == "release SHA" else "v1.4.0"
    proc = run_service(fx, ref, tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert f"matched https://github.com/shipyard/shipyard with ref {ref} to {fx.resolved[ref]}" in log
    assert f"matched https://github.com/shipyard/shipyard with ref {fx.code} to {fx.resolved[fx.code]}" in log
    assert "| shipyard code: released-1.4.0" in log
    assert "later-v1" not in log and "with ref v1 " not in log


@pytest.mark.act
def test_a_main_commit_is_not_a_release_and_follows_v1(act_fixture: Fixture, tmp_path: Path) -> None:
    """The control: C itself (what a service got before, and what main still is) runs v1's code, here the
    failing one; the harness tells the two apart."""
    proc = run_service(act_fixture, act_fixture.code, tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "matched https://github.com/shipyard/shipyard with ref v1 to " in log
    assert "| shipyard code: later-v1" in log and "released-1.4.0" not in log
