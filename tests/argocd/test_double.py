"""The ArgoCD double behaves like ArgoCD where argocd-wait depends on it (a double that accepts anything
proves nothing)."""

from __future__ import annotations

import threading
import time

import requests

from tests.doubles.argocd import REFRESH_ANNOTATION, ArgoCDDouble, frame, ts

OURS = "a1" * 20


def get(argocd: ArgoCDDouble, path: str, token: str | None = None, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(argocd.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_auth_errors_have_argocd_shape(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api", [frame(OURS)])
    r = get(argocd, "/api/v1/applications/api")
    assert r.status_code == 401 and r.json() == {"error": "no session information", "code": 16,
                                                  "message": "no session information", "details": []}
    r = get(argocd, "/api/v1/applications/api", argocd.issue_token(expires_in=-1))
    assert r.status_code == 401 and r.json()["message"].endswith("token is expired")
    r = get(argocd, "/api/v1/applications/api", "not.a.jwt")
    assert r.status_code == 401 and "signature is invalid" in r.json()["message"]
    assert get(argocd, "/api/v1/applications/api", token).status_code == 200


def test_session_login_and_cookie(argocd: ArgoCDDouble) -> None:
    argocd.add_user("alice", "pw")
    argocd.add_app("api", [frame(OURS)])
    bad = requests.post(argocd.url + "/api/v1/session", json={"username": "alice", "password": "no"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["code"] == 16
    ok = requests.post(argocd.url + "/api/v1/session", json={"username": "alice", "password": "pw"}, timeout=5)
    token = ok.json()["token"]
    assert token.count(".") == 2 and ok.cookies.get("argocd.token") == token
    r = requests.get(argocd.url + "/api/v1/applications/api", cookies={"argocd.token": token}, timeout=5)
    assert r.status_code == 200
    assert get(argocd, "/api/v1/session/userinfo", token).json()["username"] == "alice"


def test_missing_app_403_without_project_404_with(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api", [frame(OURS)], project="payments")
    r = get(argocd, "/api/v1/applications/nope", token)
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (403, 7, "permission denied")
    r = get(argocd, "/api/v1/applications/nope?project=payments", token)
    assert (r.status_code, r.json()["code"]) == (404, 5)
    assert r.json()["message"] == 'applications.argoproj.io "nope" not found'
    assert get(argocd, "/api/v1/applications/api?project=other", token).status_code == 404
    assert get(argocd, "/api/v1/applications/api?appNamespace=elsewhere", token).status_code == 403
    limited = argocd.issue_token("limited", projects={"checkout"})
    assert get(argocd, "/api/v1/applications/api", limited).status_code == 403
    assert get(argocd, "/api/v1/applications/api?project=payments", limited).json()["code"] == 7


def test_frames_play_per_poll_and_the_last_sticks(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api", [frame("1" * 40), frame("2" * 40)])
    revs = [get(argocd, "/api/v1/applications/api", token).json()["status"]["sync"]["revision"] for _ in range(3)]
    assert revs == ["1" * 40, "2" * 40, "2" * 40]
    doc = get(argocd, "/api/v1/applications/api", token).json()
    assert doc["metadata"]["name"] == "api" and doc["spec"]["project"] == "default"


def test_refresh_blocks_until_reconciled(token: str) -> None:
    with ArgoCDDouble(refresh_delay=0.3, refresh_deadline=2) as argocd:
        assert isinstance(argocd, ArgoCDDouble)
        argocd.add_app("api", [frame(OURS, reconciled=ts(-100))])
        seen: list[dict[str, object]] = []

        def peek() -> None:  # while the refresh GET waits, the annotation is set
            time.sleep(0.1)
            with argocd.lock:
                seen.append(dict(argocd.app("api").annotations))

        threading.Thread(target=peek).start()
        start = time.monotonic()
        r = get(argocd, "/api/v1/applications/api?refresh=hard", argocd.issue_token())
        assert time.monotonic() - start >= 0.25
        assert seen == [{REFRESH_ANNOTATION: "hard"}]
        body = r.json()
        assert REFRESH_ANNOTATION not in body["metadata"]["annotations"]
        assert body["status"]["reconciledAt"] >= ts(-2)


def test_refresh_deadline_fault(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api", [frame(OURS)])
    argocd.stall_refresh("api")
    r = get(argocd, "/api/v1/applications/api?refresh=normal", token)
    assert r.status_code == 500
    assert r.json() == {"error": "application refresh deadline exceeded", "code": 2,
                        "message": "application refresh deadline exceeded", "details": []}
    assert get(argocd, "/api/v1/applications/api", token).status_code == 200


def test_ui_paths_answer_html_and_unknown_api_404(argocd: ArgoCDDouble, token: str) -> None:
    r = get(argocd, "/argocd/api/v1/applications/api", token)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    r = get(argocd, "/api/v1/nothing", token)
    assert r.status_code == 404 and r.json()["code"] == 5


def test_injected_faults_use_grpc_shape(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api", [frame(OURS)])
    argocd.inject("status", 503, match="GET /api/v1/applications/")
    r = get(argocd, "/api/v1/applications/api", token)
    assert r.status_code == 503 and r.json()["code"] == 14
