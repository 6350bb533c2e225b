"""Which language and build tool a service uses, from the files at the root of its build context."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.runtime import UserError

LANGUAGES = ("java", "kotlin", "python", "node", "spa", "go", "swift")
#: what detection looks for, in order (shown in the "nothing detected" error)
MARKERS: tuple[tuple[str, str], ...] = (
    ("Package.swift", "swift (SwiftPM)"),
    ("go.mod", "go"),
    ("build.gradle.kts / build.gradle / settings.gradle(.kts)", "kotlin or java (Gradle)"),
    ("pom.xml", "java or kotlin (Maven)"),
    ("uv.lock / poetry.lock / pyproject.toml / requirements.txt / setup.py", "python (uv, Poetry, pip)"),
    ("package.json (+ pnpm-lock.yaml / yarn.lock / package-lock.json)",
     "node (pnpm, yarn, npm) or spa (vite/vue/react)"),
)
SPA_MARKERS = frozenset({"vite", "vue", "react", "react-dom", "@vitejs/plugin-vue", "@vitejs/plugin-react",
                         "@vue/cli-service", "react-scripts", "@angular/core", "svelte"})
SERVER_MARKERS = frozenset({"next", "nuxt", "express", "fastify", "koa", "@nestjs/core", "@remix-run/node",
                            "hono", "@sveltejs/kit"})
KOTLIN_GRADLE = re.compile(r"""kotlin\s*\(\s*["']jvm["']|org\.jetbrains\.kotlin|kotlin-gradle-plugin""")


@dataclass(frozen=True)
class Detection:
    """``language`` (one of LANGUAGES), ``tool`` (npm, gradle, ...), the marker file and tool details."""

    language: str
    tool: str
    marker: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.language} ({self.tool})"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def node_tool(context: Path) -> str:
    if (context / "pnpm-lock.yaml").exists():
        return "pnpm"
    if (context / "yarn.lock").exists():
        return "yarn"
    return "npm"


def _node(context: Path, forced: str | None) -> Detection:
    package = _read_json(context / "package.json")
    deps = {**(package.get("dependencies") or {}), **(package.get("devDependencies") or {})}
    scripts = package.get("scripts") or {}
    spa = bool(SPA_MARKERS & set(deps)) and not (SERVER_MARKERS & set(deps))
    language = forced or ("spa" if spa else "node")
    details: dict[str, Any] = {"scripts": sorted(scripts), "has_dependencies": bool(deps),
                               "lockfile": any((context / f).exists() for f in (
                                   "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"))}
    if language == "spa":
        details["out_dir"] = "build" if "react-scripts" in deps else "dist"
    else:
        main = str(package.get("main") or "")
        start = str(scripts.get("start") or "")
        direct = re.fullmatch(r"node\s+([\w./-]+)", start.strip())
        details["start"] = "" if direct or not start else "npm start"
        if direct:
            package = {**package, "main": direct.group(1)}
        details["main"] = main or next((f for f in ("server.js", "index.js", "app.js", "src/index.js",
                                                    "server.mjs", "index.mjs") if (context / f).exists()), "index.js")
    return Detection(language, node_tool(context), "package.json", details)


def _python(context: Path) -> Detection | None:
    pyproject = _text(context / "pyproject.toml")
    if (context / "uv.lock").exists():
        return Detection("python", "uv", "uv.lock", {"pyproject": bool(pyproject)})
    if (context / "poetry.lock").exists() or "[tool.poetry]" in pyproject:
        return Detection("python", "poetry", "poetry.lock" if (context / "poetry.lock").exists() else "pyproject.toml")
    if (context / "requirements.txt").exists():
        return Detection("python", "pip", "requirements.txt", {"pyproject": bool(pyproject)})
    if pyproject or (context / "setup.py").exists():
        return Detection("python", "pip", "pyproject.toml" if pyproject else "setup.py", {"pyproject": True})
    return None


def _python_module(context: Path) -> str:
    """A best guess at the ASGI/WSGI module or script to run: app/main.py -> app.main."""
    for candidate, module in (("app/main.py", "app.main"), ("main.py", "main"), ("app.py", "app"),
                              ("src/main.py", "src.main")):
        if (context / candidate).exists():
            return module
    return "main"


def detect(context: Path, language: str | None = None) -> Detection:
    """Detect the language/tool of ``context``; ``language`` forces the language (the tool is still detected)."""
    if language is not None and language not in LANGUAGES:
        raise UserError(f"Input 'language' has unknown value '{language}'; allowed: {', '.join(LANGUAGES)}.",
                        input_name="language")
    found = _detect(context, language)
    if found is None and language:
        found = _default_for(language, context)
    if found is None:
        looked = "; ".join(f"{files} -> {what}" for files, what in MARKERS)
        raise UserError(
            f"No Dockerfile and no detectable language in build context '{context}'. Looked for: Dockerfile, "
            f"Containerfile; {looked}.",
            "add a Dockerfile (or set `dockerfile:`), set `language:` to one of "
            f"{', '.join(LANGUAGES)}, or point `context:` at the service's directory.",
            input_name="language",
        )
    if found.language == "python":
        found.details.setdefault("module", _python_module(context))
        found.details["asgi"] = _python_asgi(context)
    return found


def _python_asgi(context: Path) -> bool:
    reqs = (_text(context / "requirements.txt") + _text(context / "pyproject.toml")).lower()
    return any(word in reqs for word in ("fastapi", "starlette", "uvicorn"))


def _detect(context: Path, language: str | None) -> Detection | None:
    want = language
    if want in (None, "swift") and (context / "Package.swift").exists():
        return Detection("swift", "swiftpm", "Package.swift", {"product": _swift_product(context)})
    if want in (None, "go") and (context / "go.mod").exists():
        return Detection("go", "go", "go.mod", {"main": _go_main(context)})
    gradle = next((f for f in ("build.gradle.kts", "build.gradle", "settings.gradle.kts", "settings.gradle")
                   if (context / f).exists()), None)
    if gradle and want in (None, "java", "kotlin"):
        text = _text(context / "build.gradle.kts") + _text(context / "build.gradle")
        kotlin = bool(KOTLIN_GRADLE.search(text)) or (context / "src" / "main" / "kotlin").is_dir()
        lang = want or ("kotlin" if kotlin else "java")
        return Detection(lang, "gradle", gradle, {"wrapper": (context / "gradlew").exists(),
                                                  "kts": gradle.endswith(".kts")})
    if (context / "pom.xml").exists() and want in (None, "java", "kotlin"):
        kotlin = "kotlin-maven-plugin" in _text(context / "pom.xml")
        lang = want or ("kotlin" if kotlin else "java")
        return Detection(lang, "maven", "pom.xml", {"wrapper": (context / "mvnw").exists()})
    if want in (None, "python"):
        py = _python(context)
        if py:
            return py
    if (context / "package.json").exists() and want in (None, "node", "spa"):
        return _node(context, want)
    return None


def _default_for(language: str, context: Path) -> Detection:
    """``language`` was forced but no marker file exists: assume the common tool."""
    tool = {"java": "maven", "kotlin": "gradle", "python": "pip", "node": "npm", "spa": "npm", "go": "go",
            "swift": "swiftpm"}[language]
    details: dict[str, Any] = {}
    if language == "node":
        details = {"main": "index.js", "start": "", "has_dependencies": False, "lockfile": False, "scripts": []}
    elif language == "spa":
        details = {"out_dir": "dist", "has_dependencies": False, "lockfile": False, "scripts": []}
    elif language == "go":
        details = {"main": "."}
    elif language == "swift":
        details = {"product": "App"}
    elif language in ("java", "kotlin"):
        details = {"wrapper": False, "kts": language == "kotlin"}
    return Detection(language, tool, "(language input)", details)


def _go_main(context: Path) -> str:
    if (context / "main.go").exists():
        return "."
    cmd = context / "cmd"
    if cmd.is_dir():
        subs = sorted(p.name for p in cmd.iterdir() if p.is_dir() and any(p.glob("*.go")))
        if subs:
            return f"./cmd/{subs[0]}"
    return "."


def _swift_product(context: Path) -> str:
    text = _text(context / "Package.swift")
    match = re.search(r'\.executable(?:Target|Product)?\s*\(\s*name:\s*"([^"]+)"', text)
    if match:
        return match.group(1)
    match = re.search(r'name:\s*"([^"]+)"', text)
    return match.group(1) if match else "App"
