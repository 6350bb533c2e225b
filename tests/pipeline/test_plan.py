"""``shipyard plan``, the root action's first step: the cases the bash planner (scripts/pipeline-plan.sh) handled,
and the inputs that used to steer it (issue 12 item 3)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from shipyard import cli
from shipyard.plan import plan, run
from shipyard.runtime import Action, UserError


def outputs_file(path: Path) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file the way the runner does (``name=value`` and ``name<<DELIM`` ... ``DELIM``)."""
    result: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            result[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            result[name] = value
        i += 1
    return result


def test_defaults_from_the_repository_name() -> None:
    p = plan({}, "acme/orders")
    assert p.service == "orders" == p.ecr_repository
    assert p.config_paths == "apps/orders/overlays/dev*/kustomization.yaml"
    assert p.argocd_applications == "orders-dev"
    assert p.gitops_mode == "push"
    assert p.stages == ("build", "ecr-push")
    assert not (p.slack or p.gitops or p.argocd or p.bitbucket or p.postman)


@pytest.mark.parametrize("environment,mode", [("prd", "pull-request"), ("prod", "pull-request"),
                                              ("production", "pull-request"), ("dev", "push"), ("stg", "push")])
def test_production_opens_a_pull_request_by_default(environment: str, mode: str) -> None:
    assert plan({"service": "orders", "environment": environment}).gitops_mode == mode


def test_an_explicit_mode_wins_and_a_path_service_keeps_its_last_part_for_paths() -> None:
    p = plan({"service": "team/orders", "environment": "prd", "gitops-mode": "push", "ecr-repository": "team/o2"})
    assert p.gitops_mode == "push" and p.ecr_repository == "team/o2" and p.service == "team/orders"
    assert p.config_paths == "apps/orders/overlays/prd*/kustomization.yaml"
    assert p.argocd_applications == "orders-prd"


@pytest.mark.parametrize("flags,stages", [
    ({"gitops": "true"}, ("build", "ecr-push", "gitops-update")),
    ({"gitops": "true", "argocd": "true"}, ("build", "ecr-push", "gitops-update", "argocd-wait")),
    ({"argocd": "true"}, ("build", "ecr-push")),  # nothing to wait for without a config commit
    ({"bitbucket": "true", "postman": "true"}, ("build", "ecr-push", "bitbucket-mirror", "postman-publish")),
])
def test_optional_stages_follow_their_inputs(flags: dict[str, str], stages: tuple[str, ...]) -> None:
    p = plan({"service": "orders", **flags})
    assert p.stages == stages
    assert p.argocd == ("argocd-wait" in stages)


@pytest.mark.parametrize("inputs,name", [
    ({}, "service"),  # no service and no repository
    ({"service": "Orders"}, "service"),
    ({"service": "orders\nx"}, "service"),
    ({"service": "orders", "gitops-mode": "merge"}, "gitops-mode"),
    ({"service": "orders", "ecr-repository": "orders\nservice=evil"}, "ecr-repository"),
    ({"service": "orders", "environment": "prd\ngitops-mode=push"}, "environment"),
    # the production pull request can no longer be turned into a push through another input
    ({"service": "orders", "environment": "prd", "argocd-applications": "orders-prd\ngitops-mode=push"},
     "argocd-applications"),
    ({"service": "orders", "config-paths": "apps/x.yaml\n\x1b[31m"}, "config-paths"),
])
def test_bad_inputs_fail_naming_the_input(inputs: dict[str, str], name: str) -> None:
    with pytest.raises(UserError) as info:
        plan(inputs)
    assert info.value.input_name == name and info.value.fix


def test_outputs_are_written_in_the_multi_line_form(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.touch()
    action = Action({"GITHUB_OUTPUT": str(out), "INPUT_SERVICE": "orders", "INPUT_ENVIRONMENT": "prd",
                     "INPUT_CONFIG_PATHS": "apps/orders/a.yaml\napps/orders/b.yaml", "INPUT_GITOPS": "true",
                     "INPUT_ARGOCD_APPLICATIONS": "orders-prd-eu, orders-prd-us"}, io.StringIO())
    run(action)
    got = outputs_file(out)
    assert got["config-paths"] == "apps/orders/a.yaml\napps/orders/b.yaml"  # two lines: no "Invalid format"
    assert got["gitops-mode"] == "pull-request"
    assert got["stages"] == "build,ecr-push,gitops-update" and got["gitops"] == "true"
    assert got["argocd-applications"] == "orders-prd-eu, orders-prd-us"
    assert "config-paths<<" in out.read_text()


def test_the_cli_runs_the_plan(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_OUTPUT", "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["plan", "--service", "orders", "--bitbucket", "true"]) == 0
    printed = capsys.readouterr().out
    assert "output stages=build,ecr-push,bitbucket-mirror" in printed
    assert cli.main(["plan", "--service", "orders", "--gitops-mode", "sideways"]) == 1
    assert "allowed values: push, pull-request" in capsys.readouterr().out
