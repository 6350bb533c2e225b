"""Language detection matrix and the "nothing detected" error."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.build.detect import detect
from shipyard.runtime import UserError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "language", "tool"),
    [
        ({"pom.xml": "<project/>"}, "java", "maven"),
        ({"pom.xml": "<project><artifactId>kotlin-maven-plugin</artifactId></project>"}, "kotlin", "maven"),
        ({"build.gradle": "plugins { id 'java' }"}, "java", "gradle"),
        ({"build.gradle.kts": 'plugins { kotlin("jvm") version "2.0.0" }'}, "kotlin", "gradle"),
        ({"build.gradle": "apply plugin: 'org.jetbrains.kotlin.jvm'"}, "kotlin", "gradle"),
        ({"settings.gradle.kts": "", "src/main/kotlin/A.kt": ""}, "kotlin", "gradle"),
        ({"requirements.txt": "flask\n"}, "python", "pip"),
        ({"pyproject.toml": "[tool.poetry]\nname='x'\n", "poetry.lock": ""}, "python", "poetry"),
        ({"pyproject.toml": "[project]\nname='x'\n", "uv.lock": ""}, "python", "uv"),
        ({"pyproject.toml": "[project]\nname='x'\n"}, "python", "pip"),
        ({"package.json": '{"dependencies": {"express": "4"}}', "package-lock.json": "{}"}, "node", "npm"),
        ({"package.json": '{"dependencies": {"express": "4"}}', "yarn.lock": ""}, "node", "yarn"),
        ({"package.json": '{"dependencies": {"fastify": "4"}}', "pnpm-lock.yaml": ""}, "node", "pnpm"),
        ({"package.json": '{"dependencies": {"vue": "3"}, "devDependencies": {"vite": "6"}}'}, "spa", "npm"),
        ({"package.json": '{"dependencies": {"react": "18", "react-dom": "18"}}', "yarn.lock": ""}, "spa", "yarn"),
        ({"package.json": '{"dependencies": {"react": "18", "next": "14"}}'}, "node", "npm"),
        ({"go.mod": "module x\n", "main.go": "package main"}, "go", "go"),
        ({"Package.swift": '.executableTarget(name: "Server")'}, "swift", "swiftpm"),
    ],
)
def test_detection_matrix(tmp_path: Path, files: dict[str, str], language: str, tool: str) -> None:
    found = detect(tree(tmp_path, files))
    assert (found.language, found.tool) == (language, tool)


@pytest.mark.parametrize(
    ("example", "language", "tool"),
    [("python-service", "python", "pip"), ("node-service", "node", "npm"), ("vue-app", "spa", "npm"),
     ("go-service", "go", "go"), ("java-service", "java", "maven"), ("kotlin-service", "kotlin", "gradle"),
     ("swift-service", "swift", "swiftpm")],
)
def test_examples_detected(example: str, language: str, tool: str) -> None:
    found = detect(EXAMPLES / example)
    assert (found.language, found.tool) == (language, tool)


def test_details() -> None:
    assert detect(EXAMPLES / "python-service").details["module"] == "app.main"
    assert detect(EXAMPLES / "python-service").details["asgi"] is True
    assert detect(EXAMPLES / "swift-service").details["product"] == "App"
    assert detect(EXAMPLES / "node-service").details["main"] == "server.js"
    assert detect(EXAMPLES / "vue-app").details["out_dir"] == "dist"


def test_language_input_overrides(tmp_path: Path) -> None:
    tree(tmp_path, {"package.json": '{"dependencies": {"vue": "3"}}', "requirements.txt": ""})
    assert detect(tmp_path).language == "python"  # python markers come first
    assert detect(tmp_path, "spa").language == "spa"
    assert detect(tmp_path, "node").language == "node"
    empty = tmp_path / "empty"
    empty.mkdir()
    forced = detect(empty, "go")
    assert (forced.language, forced.marker) == ("go", "(language input)")


def test_nothing_detected_lists_files_and_fix(tmp_path: Path) -> None:
    tree(tmp_path, {"README.md": "hi"})
    with pytest.raises(UserError) as err:
        detect(tmp_path)
    text = str(err.value)
    for marker in ("Dockerfile", "Package.swift", "go.mod", "build.gradle.kts", "pom.xml", "requirements.txt",
                   "poetry.lock", "uv.lock", "package.json", "pnpm-lock.yaml"):
        assert marker in text
    assert "`language:`" in (err.value.fix or "")


def test_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        detect(tmp_path, "cobol")
