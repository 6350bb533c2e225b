"""Run a workflow that uses Shipyard's actions under act in host mode, as GitHub would.

The workflow refers to the actions the way a service repository does (``uses: shipyard/shipyard/actions/
build@v1``); act's ``--local-repository`` maps that reference to a clean export of this checkout, so the test
exercises the published layout (action.yml -> scripts/shipyard -> src/shipyard) and not a shortcut.

Secrets go through ``--secret-file`` and variables through ``--env-file``: nothing secret is put in argv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACTION_REPO = "shipyard/shipyard"
ACTION_REF = "v1"


def export_tree(dest: Path, source: Path = ROOT) -> Path:
    """Copy the files git would ship (tracked plus new, not ignored) to ``dest``: no venvs, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = source / rel
        if not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


@dataclass
class ActResult:
    returncode: int
    output: str
    workdir: Path

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def file(self, name: str) -> str:
        """A file a step wrote into the job's workspace copy (see ``dump_step``)."""
        return (self.workdir / "out" / name).read_text(encoding="utf-8")

    def json(self, name: str) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.file(name))
        return data


def dump_step(name: str, values: dict[str, str]) -> str:
    """A workflow step that writes expressions (e.g. ``steps.x.outputs.y``) to out/<name> as JSON.

    It reads them through ``env:`` like any well-behaved step. ``OUT_DIR`` comes from the env file.
    """
    env_lines = "\n".join(f"          V_{k.upper().replace('-', '_')}: ${{{{ {v} }}}}" for k, v in values.items())
    keys = ", ".join(f'"{k}": os.environ["V_{k.upper().replace("-", "_")}"]' for k in values)
    return textwrap.dedent(
        """\
      - name: dump {name}
        if: always()
        shell: bash
        env:
{env}
        run: |
          python3 - <<'PY'
          import json, os
          with open(os.path.join(os.environ["OUT_DIR"], "{name}"), "w") as fh:
              json.dump({{{keys}}}, fh)
          PY
"""
    ).format(name=name, env=env_lines, keys=keys)


class ActRunner:
    """One exported copy of the repo per session; each ``run`` gets its own scratch repository."""

    def __init__(self, base_dir: Path, venv: Path | None = None) -> None:
        self.base_dir = base_dir
        self.export = export_tree(base_dir / "shipyard-export")
        self.venv = venv
        self.count = 0

    def run(
        self,
        workflow: str,
        *,
        env: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        event: str = "push",
        event_payload: dict[str, object] | None = None,
        files: dict[str, str] | None = None,
        timeout: float = 300,
        extra_args: list[str] | None = None,
        local_actions: dict[str, Path] | None = None,
    ) -> ActResult:
        """Run ``workflow`` in a fresh scratch repo. ``local_actions`` maps third-party actions the workflow
        uses (``"actions/cache@<sha>"``) to local folders, so nothing is fetched."""
        self.count += 1
        work = Path(tempfile.mkdtemp(prefix=f"act{self.count}-", dir=self.base_dir))
        repo = work / "repo"
        (repo / ".github" / "workflows").mkdir(parents=True)
        (repo / ".github" / "workflows" / "test.yml").write_text(textwrap.dedent(workflow), encoding="utf-8")
        for rel, content in (files or {}).items():
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=git_env)
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=git_env)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", "service commit"], check=True, env=git_env)
        subprocess.run(
            ["git", "-C", str(repo), "remote", "add", "origin", "https://github.com/acme/service.git"],
            check=True,
        )
        out_dir = work / "out"
        out_dir.mkdir()
        all_env = {"OUT_DIR": str(out_dir)}
        if self.venv is not None:
            all_env["SHIPYARD_VENV"] = str(self.venv)
        all_env.update(env or {})
        env_file = work / "act.env"
        env_file.write_text("".join(f"{k}={_one_line(v)}\n" for k, v in all_env.items()), encoding="utf-8")
        secret_file = work / "act.secrets"
        secret_file.write_text("".join(f"{k}={_one_line(v)}\n" for k, v in (secrets or {}).items()))
        secret_file.chmod(0o600)
        args = [
            "act",
            event,
            "-W",
            ".github/workflows/test.yml",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--local-repository",
            f"{ACTION_REPO}@{ACTION_REF}={self.export}",
            "--env-file",
            str(env_file),
            "--secret-file",
            str(secret_file),
            "--var-file",
            "/dev/null",
            "--input-file",
            "/dev/null",
            "--no-cache-server",
            "--action-offline-mode",
        ]
        for ref, path in (local_actions or {}).items():
            args += ["--local-repository", f"{ref}={path}"]
        if event_payload is not None:
            event_file = work / "event.json"
            event_file.write_text(json.dumps(event_payload))
            args += ["-e", str(event_file)]
        args += extra_args or []
        proc = subprocess.run(
            args,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": os.environ.get("HOME", str(work))},
        )
        return ActResult(proc.returncode, proc.stdout + proc.stderr, work)


def _one_line(value: str) -> str:
    if "\n" in value:
        raise ValueError("act env/secret files hold one line per value")
    return value
