"""Shipyard's workflow templates as generated today, loaded at run time.

Looked for first beside the code in an installed wheel (``shipyard/_workflow_templates``, packed from
``workflow-templates/`` by pyproject.toml: the templates of this very version), then in ``SHIPYARD_ROOT`` (the
action's checkout, set by the launcher), then the source checkout (``workflow-templates/`` at the root, or the
older ``.github/workflow-templates/``). A template that does not parse stops the run before anything is read from
the fleet.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.runtime import UserError

PREFIX = "shipyard-"
#: the language templates (shipyard-<key>.yml); the folder also holds fleet-level ones (fleet, minutes, ...)
LANGUAGE_KEYS = frozenset({"java", "kotlin", "python", "node", "vue", "go", "swift"})


@dataclass(frozen=True)
class Template:
    key: str
    path: Path
    text: str

    def render(self, default_branch: str) -> str:
        return self.text.replace("$default-branch", default_branch)


def candidates() -> list[Path]:
    here = Path(__file__).resolve().parent.parent  # src/shipyard, or site-packages/shipyard when installed
    found = [here / "_workflow_templates"]  # an installed wheel: never a stray folder near site-packages
    roots = [Path(os.environ["SHIPYARD_ROOT"])] if os.environ.get("SHIPYARD_ROOT") else []
    roots.append(here.parent.parent)
    for root in roots:
        found += [root / "workflow-templates", root / ".github" / "workflow-templates"]
    return found


def find(directory: Path | None = None) -> Path:
    for candidate in [directory] if directory else candidates():
        if candidate and candidate.is_dir() and any((candidate / f"{PREFIX}{k}.yml").is_file() for k in LANGUAGE_KEYS):
            return candidate
    where = str(directory) if directory else ", ".join(str(c) for c in candidates())
    raise UserError(f"No Shipyard workflow templates (shipyard-<language>.yml) found in {where}.",
                    "point `templates` at the folder holding shipyard-<language>.yml, or reinstall Shipyard.",
                    input_name="templates")


def load(directory: Path | None = None) -> dict[str, Template]:
    """Template key (java, node, vue, ...) -> Template; every one must parse as a workflow."""
    folder = find(directory)
    out: dict[str, Template] = {}
    for path in sorted(folder.glob(f"{PREFIX}*.yml")):
        key = path.name[len(PREFIX):-len(".yml")]
        if key not in LANGUAGE_KEYS:
            continue
        text = path.read_text(encoding="utf-8")
        template = Template(key, path, text)
        data = parse(template.render("main"), str(path))
        if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
            raise UserError(f"Workflow template {path} has no `jobs:` mapping.",
                            "regenerate the templates (python scripts/gen_workflows.py) or fix the file.",
                            input_name="templates", title="template does not parse")
        out[key] = template
    return out


def parse(text: str, where: str) -> Any:
    """Safe-load a workflow; a template that does not parse is a UserError naming the file and line."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"Workflow template {where} does not parse ({line.strip() or 'YAML error'}: "
                        f"{getattr(exc, 'problem', None) or exc}).",
                        "regenerate the templates (python scripts/gen_workflows.py) or fix the file.",
                        input_name="templates", title="template does not parse") from None


MAX_ALIASES = 100
MAX_BYTES = 512 * 1024


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    """A SafeLoader that reads ``on`` as the string it is in a workflow (YAML 1.1 would say True) and refuses
    alias bombs (a few lines that expand to gigabytes when walked)."""
    import yaml

    class WorkflowLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise yaml.YAMLError(f"more than {MAX_ALIASES} YAML aliases")
            return super().compose_node(parent, index)

    resolvers = {k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
                 for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    WorkflowLoader.yaml_implicit_resolvers = resolvers
    import re

    boolean = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    WorkflowLoader.add_implicit_resolver("tag:yaml.org,2002:bool", boolean, list("tTfF"))
    return WorkflowLoader


def load_workflow(text: str) -> Any:
    """Parse a repository's workflow file (raises yaml.YAMLError)."""
    import yaml

    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"larger than {MAX_BYTES // 1024} KiB")

    return yaml.load(text, Loader=_loader())  # noqa: S506 - SafeLoader subclass
