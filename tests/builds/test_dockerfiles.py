"""Generated Dockerfiles: they parse, are multi-stage, pin every base by digest and run as a non-root numeric user.

Kotlin and Swift cannot be built here (no toolchains): these checks are what covers them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.build.detect import detect
from shipyard.build.dockerfiles import DEFAULT_BASES, choose_bases, from_images, generate, user_of
from shipyard.runtime import UserError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
PINNED = re.compile(r"^[a-z0-9./:_-]+@sha256:[0-9a-f]{64}$")


def parse(text: str) -> list[tuple[str, str]]:
    """A strict enough Dockerfile parser: continuation lines, comments, known instructions, JSON exec forms."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        full = (current + line).strip()
        current = ""
        keyword, _, rest = full.partition(" ")
        assert keyword.upper() in INSTRUCTIONS, f"unknown instruction in: {full}"
        if keyword in ("CMD", "ENTRYPOINT") and rest.startswith("["):
            import json

            assert isinstance(json.loads(rest), list)
        out.append((keyword.upper(), rest))
    assert not current, "dangling line continuation"
    return out


def check(text: str, *, multi_stage: bool) -> None:
    instructions = parse(text)
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    assert froms and instructions[0][0] == "FROM"
    if multi_stage:
        assert len(froms) >= 2
    stages = set()
    for rest in froms:
        words = [w for w in rest.split() if not w.startswith("--")]
        if len(words) == 3:
            stages.add(words[2])
    for kw, rest in instructions:
        if kw == "COPY" and "--from=" in rest:
            assert re.search(r"--from=(\S+)", rest).group(1) in stages  # type: ignore[union-attr]
    for image in from_images(text):
        assert PINNED.match(image), f"base not pinned by digest: {image}"
    user = user_of(text)
    assert user is not None and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", user), f"final USER is {user}"
    assert not any(kw == "HEALTHCHECK" for kw, _ in instructions)


@pytest.mark.parametrize("example", ["python-service", "node-service", "vue-app", "go-service", "java-service",
                                     "kotlin-service", "swift-service"])
def test_generated_container_dockerfiles(example: str) -> None:
    detection = detect(EXAMPLES / example)
    generated = generate(detection, choose_bases(detection, {}), "container")
    check(generated.text, multi_stage=True)


def test_kotlin_and_swift_specifics() -> None:
    kotlin = detect(EXAMPLES / "kotlin-service")
    text = generate(kotlin, choose_bases(kotlin, {})).text
    assert "gradle" in text and "build/libs" in text and "eclipse-temurin:21-jre@sha256:" in text
    assert 'ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"]' in text
    swift = detect(EXAMPLES / "swift-service")
    text = generate(swift, choose_bases(swift, {})).text
    assert "swift build -c release --static-swift-stdlib --product App" in text
    assert "FROM swift:6.0-jammy@sha256:" in text and "FROM ubuntu:jammy@sha256:" in text


@pytest.mark.parametrize("language", ["python", "node", "spa", "go", "java", "kotlin", "swift"])
def test_every_language_and_tool(tmp_path: Path, language: str) -> None:
    detection = detect(tmp_path, language)
    check(generate(detection, choose_bases(detection, {})).text, multi_stage=True)


@pytest.mark.parametrize(("files", "expect"), [
    ({"pyproject.toml": "[project]\n", "uv.lock": ""}, "uv sync --frozen --no-dev"),
    ({"pyproject.toml": "[tool.poetry]\n", "poetry.lock": ""}, "poetry export"),
    ({"package.json": '{"dependencies": {"a": "1"}}', "pnpm-lock.yaml": ""}, "pnpm install --frozen-lockfile --prod"),
    ({"package.json": '{"dependencies": {"a": "1"}}', "yarn.lock": ""}, "yarn install --frozen-lockfile --production"),
])
def test_tools(tmp_path: Path, files: dict[str, str], expect: str) -> None:
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    detection = detect(tmp_path)
    text = generate(detection, choose_bases(detection, {})).text
    assert expect in text
    check(text, multi_stage=True)


@pytest.mark.parametrize("example", ["python-service", "node-service", "vue-app", "go-service", "java-service"])
def test_host_mode_dockerfiles(example: str) -> None:
    detection = detect(EXAMPLES / example)
    generated = generate(detection, choose_bases(detection, {}), "host")
    check(generated.text, multi_stage=False)
    assert list(generated.bases) == ["runtime"]


def test_host_mode_unavailable_for_swift() -> None:
    detection = detect(EXAMPLES / "swift-service")
    with pytest.raises(UserError) as err:
        generate(detection, choose_bases(detection, {}), "host")
    assert err.value.input_name == "build-mode"


def test_defaults_are_pinned() -> None:
    for family in DEFAULT_BASES.values():
        for image in family.values():
            assert PINNED.match(image), image


def test_base_overrides() -> None:
    detection = detect(EXAMPLES / "go-service")
    bases = choose_bases(detection, {"runtime": "127.0.0.1:5000/base/busybox@sha256:" + "a" * 64})
    assert bases["runtime"].startswith("127.0.0.1:5000/") and bases["build"] == DEFAULT_BASES["go"]["build"]
    with pytest.raises(UserError) as err:
        choose_bases(detection, {"final": "x"})
    assert err.value.input_name == "base-images"
    with pytest.raises(UserError):
        choose_bases(detection, {"runtime": "Not An Image"})


def test_from_images_of_own_dockerfile() -> None:
    text = (
        "ARG BASE=alpine:3.20\n# comment\nFROM --platform=$BUILDPLATFORM golang:1.24 AS build\n"
        "RUN echo \\\n  hi\nFROM ${BASE} AS mid\nFROM build AS again\nFROM scratch\nCOPY --from=build /a /a\n"
    )
    assert from_images(text) == ["golang:1.24", "alpine:3.20"]
    assert from_images(text, {"BASE": "debian:12"}) == ["golang:1.24", "debian:12"]
    assert user_of("FROM a\nUSER 1000\nFROM b\n") is None
