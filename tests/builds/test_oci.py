"""shipyard.oci against the real loopback registry (Basic auth) and a Bearer token double."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.oci import (
    Credentials,
    ImageRef,
    RegistryClient,
    RegistryUnreachable,
    load_credentials,
    parse_challenge,
    write_auth_file,
)
from shipyard.runtime import Action, UserError
from tests.builds.registry_double import TokenRegistryDouble
from tests.stack.ports import free_port
from tests.stack.registry import Registry


def make_action(env: dict[str, str] | None = None) -> tuple[Action, io.StringIO]:
    out = io.StringIO()
    return Action(env=env or {}, out=out, sleep=lambda s: None), out


# ------------------------------------------------------------------------------------------ references
@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", None, None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("127.0.0.1:5000/base/busybox:1", "127.0.0.1:5000", "base/busybox", "1", None),
        ("localhost/app", "localhost", "app", None, None),
        ("1234.dkr.ecr.eu-west-1.amazonaws.com/team/svc:abc@sha256:" + "a" * 64,
         "1234.dkr.ecr.eu-west-1.amazonaws.com", "team/svc", "abc", "sha256:" + "a" * 64),
    ],
)
def test_parse_reference(text: str, registry: str, repo: str, tag: str | None, digest: str | None) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


@pytest.mark.parametrize("bad", ["", "Upper/Case", "a b", "host:5000/x:bad tag", "x@sha256"])
def test_parse_reference_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        ImageRef.parse(bad)


def test_parse_challenge() -> None:
    ch = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')
    assert ch is not None and ch.scheme == "bearer"
    assert ch.params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"}
    basic = parse_challenge('Basic realm="r"')
    assert basic is not None and basic.scheme == "basic"


# ------------------------------------------------------------------------------------------ credentials
def _b64(user: str, pw: str) -> str:
    return base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_credentials_order_and_formats(tmp_path: Path) -> None:
    containers = tmp_path / "auth.json"
    containers.write_text(json.dumps({"auths": {"reg.example": {"auth": _b64("c-user", "c-pass")},
                                                "reg.example/team/app": {"auth": _b64("scoped", "s-pass")}}}))
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {
        "https://other.example/v1/": {"username": "d-user", "password": "d-pass"},
        "https://index.docker.io/v1/": {"auth": _b64("hub", "hub-pass")},
    }}))
    env = {"REGISTRY_AUTH_FILE": str(containers), "DOCKER_CONFIG": str(docker_dir), "HOME": str(tmp_path)}
    creds = load_credentials("reg.example", env)
    assert creds is not None and (creds.username, creds.password) == ("c-user", "c-pass")
    scoped = load_credentials("reg.example", env, repository="team/app")
    assert scoped is not None and scoped.username == "scoped"
    other = load_credentials("other.example", env)
    assert other is not None and (other.username, other.password) == ("d-user", "d-pass")
    hub = load_credentials("docker.io", env)
    assert hub is not None and hub.username == "hub"
    assert load_credentials("nowhere.example", env) is None
    assert "c-pass" not in repr(creds)


def test_xdg_runtime_auth_and_malformed_file_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    runtime = tmp_path / "run" / "containers"
    runtime.mkdir(parents=True)
    (runtime / "auth.json").write_text(json.dumps({"auths": {"r.example:5000": {"auth": _b64("x", "y")}}}))
    action, out = make_action()
    env = {"REGISTRY_AUTH_FILE": str(bad), "XDG_RUNTIME_DIR": str(tmp_path / "run"), "HOME": str(tmp_path)}
    creds = load_credentials("r.example:5000", env, action=action)
    assert creds is not None and creds.password == "y"
    assert "skipping registry auth file" in out.getvalue()


def test_write_auth_file_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"a.example": {"auth": _b64("a", "b")}}}))
    write_auth_file(path, "b.example", "AWS", "tok")
    data = json.loads(path.read_text())
    assert set(data["auths"]) == {"a.example", "b.example"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# ------------------------------------------------------------------------------------------ real registry
@pytest.fixture
def reg_client(registry: Registry, buildah_env: dict[str, str], base_image: str) -> RegistryClient:
    action, _ = make_action({"REGISTRY_AUTH_FILE": buildah_env["REGISTRY_AUTH_FILE"], "HOME": "/nonexistent"})
    return RegistryClient(action, registry.host)


def test_real_registry_basic_auth_head_get_retag_tags(reg_client: RegistryClient, base_image: str,
                                                      registry: Registry) -> None:
    ref = ImageRef.parse(base_image)
    info = reg_client.head_manifest(ref.repository, "1")
    assert info is not None and info.digest == ref.digest
    manifest = reg_client.get_manifest(ref.repository, ref.digest or "")
    assert manifest is not None and manifest.digest == ref.digest and not manifest.is_index
    reg_client.retag(ref.repository, "1", ["retagged-a", "retagged-b"])
    assert {"1", "retagged-a", "retagged-b"} <= set(reg_client.list_tags(ref.repository))
    assert registry.manifest(ref.repository, "retagged-a")[1] == ref.digest
    assert reg_client.head_manifest(ref.repository, "no-such-tag") is None
    assert reg_client.list_tags("no/such-repo") == []
    config = reg_client.image_config(ref.repository, "1")
    assert config["config"]["Labels"]["org.opencontainers.image.title"] == "shipyard-busybox-base"


def test_real_registry_without_credentials_names_the_fix(registry: Registry, tmp_path: Path) -> None:
    action, _ = make_action({"HOME": str(tmp_path)})
    client = RegistryClient(action, registry.host)
    with pytest.raises(UserError) as err:
        client.head_manifest("base/busybox", "1")
    assert "no credentials were found" in err.value.message and "login" in (err.value.fix or "")


def test_real_registry_wrong_password_refused(registry: Registry) -> None:
    action, out = make_action()
    client = RegistryClient(action, registry.host, credentials=Credentials(registry.username, "wrong-password-x"))
    with pytest.raises(UserError) as err:
        client.head_manifest("base/busybox", "1")
    assert "refused the credentials" in err.value.message
    assert "wrong-password-x" not in str(err.value) + out.getvalue()


def test_unreachable_registry_is_transient() -> None:
    action, _ = make_action()
    client = RegistryClient(action, f"127.0.0.1:{free_port()}", credentials=Credentials("u", "p"), attempts=2)
    with pytest.raises(RegistryUnreachable):
        client.head_manifest("x", "y")


# ------------------------------------------------------------------------------------------ bearer double
@pytest.fixture
def token_registry() -> Iterator[TokenRegistryDouble]:
    double = TokenRegistryDouble()
    double.start()
    yield double
    double.stop()


def test_bearer_flow_retag_and_pagination(token_registry: TokenRegistryDouble) -> None:
    digest = token_registry.add_image("team/app", "v1", {"config": {"Labels": {"a": "b"}}})
    action, out = make_action()
    client = RegistryClient(action, f"127.0.0.1:{token_registry.port}",
                            credentials=Credentials(token_registry.username, token_registry.password))
    info = client.head_manifest("team/app", "v1")
    assert info is not None and info.digest == digest
    client.retag("team/app", "v1", [f"t{i}" for i in range(5)])
    assert sorted(client.list_tags("team/app", page_size=2)) == sorted(["v1", *[f"t{i}" for i in range(5)]])
    assert len(token_registry.calls("GET", r"/v2/team/app/tags/list")) >= 3  # followed Link: rel=next
    token_calls = token_registry.calls("GET", "/token")
    assert {c.query["scope"] for c in token_calls} == {"repository:team/app:pull", "repository:team/app:pull,push"}
    assert all(c.query["service"] == "registry.test" for c in token_calls)
    assert token_registry.password not in out.getvalue()
    assert client.image_config("team/app", "t3") == {"config": {"Labels": {"a": "b"}}}


def test_bearer_bad_password_and_retry_after(token_registry: TokenRegistryDouble) -> None:
    token_registry.add_image("team/app", "v1", {})
    action, _ = make_action()
    bad = RegistryClient(action, f"127.0.0.1:{token_registry.port}", credentials=Credentials("robot", "nope"))
    with pytest.raises(UserError):
        bad.head_manifest("team/app", "v1")
    sleeps: list[float] = []
    action = Action(env={}, out=io.StringIO(), sleep=sleeps.append)
    good = RegistryClient(action, f"127.0.0.1:{token_registry.port}",
                          credentials=Credentials(token_registry.username, token_registry.password))
    token_registry.inject("status", 429, match="HEAD /v2/team/app/manifests/v1", headers={"Retry-After": "3"})
    assert good.head_manifest("team/app", "v1") is not None
    assert sleeps and sleeps[0] >= 3


def test_retag_skips_tags_already_there_and_immutable_refusal(token_registry: TokenRegistryDouble) -> None:
    from shipyard.oci import RegistryError

    first = token_registry.add_image("team/app", "v1", {"a": 1})
    other = token_registry.add_image("team/app", "main", {"a": 2})
    token_registry.immutable.add("team/app")
    action, _ = make_action()
    client = RegistryClient(action, f"127.0.0.1:{token_registry.port}",
                            credentials=Credentials(token_registry.username, token_registry.password))
    client.retag("team/app", first, ["v1", "new"])  # v1 already points there: no PUT, no refusal
    puts = token_registry.calls("PUT", r"/v2/team/app/manifests/.*")
    assert [c.path.rsplit("/", 1)[-1] for c in puts if c.status == 201] == ["new"]
    assert other != first
    with pytest.raises(RegistryError) as err:
        client.retag("team/app", first, ["main"])
    assert err.value.status == 400 and "TAG_INVALID" in str(err.value)
