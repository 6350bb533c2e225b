"""Every string input of slack-notify fed hostile values: line breaks, control characters, a leading '-',
workflow commands, Slack markup and embedded credentials. None may become a workflow command, an extra output,
a live Slack mention, or a leaked secret; each run ends in exit 0 or one ::error:: naming the input."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml

from shipyard.runtime import Action, run_stage
from shipyard.slack import stage
from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.secrets_sweep import SecretsSweep
from tests.slack.conftest import Pipeline

ROOT = Path(__file__).resolve().parents[2]
INPUTS = list(yaml.safe_load((ROOT / "actions/slack-notify/action.yml").read_text())["inputs"])
CREDENTIAL = "ghp_H0stileEmbeddedSecret42"
HOSTILE = {
    "newline": "ok\n::warning::PWNED\nstatus=success",
    "control": "ok\x00\x07\x1b[31m\r::error::PWNED\x7f",
    "leading-dash": "--upload-pack=touch /tmp/pwned",
    "commands": "::stop-commands::PWNEDTOKEN\n##[set-output name=status;]PWNED",
    "slack-markup": "<!channel> <!here> <@U0BOSS> <!subteam^S0ALL> <https://evil.example|click> &amp;",
    "credentials": f"https://user:{CREDENTIAL}@github.com/acme/x {BOT_TOKEN}",
}
OUTPUTS = {"ts", "channel", "state", "status", "delivered", "error"}
EVENT_FOR = {"stages": "start", "stage": "stage", "details": "stage", "duration": "stage", "status": "stage"}
LIVE_MARKUP = ("<!channel>", "<!here>", "<@U0BOSS>", "<!subteam^S0ALL>", "<https://evil.example")


def parse_outputs(text: str) -> dict[str, list[str]]:
    """GITHUB_OUTPUT read the way the runner reads it (name=value, or name<<DELIMITER ... DELIMITER)."""
    found: dict[str, list[str]] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            found.setdefault(name, []).append("\n".join(lines[i + 1:end]))
            i = end + 1
            continue
        if line:
            name, _, value = line.partition("=")
            found.setdefault(name, []).append(value)
        i += 1
    return found


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("name", INPUTS)
def test_hostile_input(slack: SlackDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                       kind: str) -> None:
    value = HOSTILE[kind]
    sweep = SecretsSweep([CREDENTIAL, BOT_TOKEN], monkeypatch)
    pipe = Pipeline(slack, tmp_path / "job")
    env = dict(pipe.env, GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "output"),
               GITHUB_STEP_SUMMARY=str(tmp_path / "summary"), GITHUB_ENV=str(tmp_path / "env"),
               INPUT_EVENT=EVENT_FOR.get(name, "finish"), INPUT_STAGE="build", INPUT_JOB_STATUS="failure",
               INPUT_DETAILS="built", INPUT_ERROR="exit 2")
    env["INPUT_" + name.upper().replace("-", "_")] = value
    out = io.StringIO()
    code = run_stage(stage.run, Action(env, out), name="slack-notify")
    text = out.getvalue()

    errors = [line for line in text.splitlines() if line.startswith("::error")]
    assert code == 0 or (code == 1 and len(errors) == 1), text
    commands = [line for line in text.splitlines() if line.strip().startswith("::") or "##[" in line]
    assert all(re.match(r"::(add-mask|error|warning|notice|debug|group|endgroup)[ :]", c) for c in commands), commands
    assert not [c for c in commands if re.match(r"::[a-z-]+( [^:]*)?::(PWNED|touch)", c)], commands
    outputs = parse_outputs((tmp_path / "output").read_text())
    assert set(outputs) <= OUTPUTS and all(len(v) == 1 for v in outputs.values()), outputs
    if code == 0:
        assert outputs["status"][0] in ("running", "success", "failure", "cancelled", "timed-out")
    for call in slack.calls("POST", r"/api/chat\.(postMessage|update)"):
        shown = json.dumps({k: call.body.get(k) for k in ("text", "blocks")})
        live = [m for m in LIVE_MARKUP if m in shown and not (name == "details" and m.startswith("<https"))]
        assert not live, f"live Slack markup from {name}: {shown[:500]}"  # details may carry web links
    assert sweep.argv == [], "slack-notify starts no process"
    sweep.assert_clean({"stdout": text}, [tmp_path / "output", tmp_path / "summary", tmp_path / "env"])
    for call in slack.calls():
        assert CREDENTIAL not in json.dumps(call.body, default=str), f"{name}: a credential reached Slack"
