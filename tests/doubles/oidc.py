"""GitHub Actions' OIDC token endpoint, as a job sees it through ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN.

Faithful to the real service in what matters to a client:

* ``GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>`` with ``Authorization: Bearer <request token>``;
  the URL already carries ``?api-version=2.0``, so clients must append with ``&``;
* a missing or wrong bearer is ``401`` (the runner's request token is per job);
* the answer is ``{"count": N, "value": "<jwt>"}``; the JWT's ``aud`` is the requested audience (or the
  repository owner's URL when none is given), ``sub`` is ``repo:<owner>/<repo>:ref:<ref>``, ``iss`` is
  ``https://token.actions.githubusercontent.com``;
* an audience outside ``allowed_audiences`` is refused with 400 (lets tests prove the audience was sent).

Faults (429/5xx/timeouts) come from :class:`~tests.doubles.base.DoubleServer`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from tests.doubles.base import DoubleServer, Request, Response, json_response, route

ISSUER = "https://token.actions.githubusercontent.com"
PATH = "/abc123/_apis/distributedtask/hubs/Actions/plans/plan-1/jobs/job-1/idtoken"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcDouble(DoubleServer):
    name = "github-oidc"

    def __init__(self, *, repository: str = "acme/service", ref: str = "refs/heads/main",
                 allowed_audiences: tuple[str, ...] = ("sts.amazonaws.com",)) -> None:
        super().__init__()
        self.request_token = "ghs_req_" + secrets.token_hex(16)
        self.repository = repository
        self.ref = ref
        self.allowed_audiences = allowed_audiences
        self.issued: list[str] = []

    @property
    def request_url(self) -> str:
        return f"{self.url}{PATH}?api-version=2.0"

    def env(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}

    def authenticate(self, req: Request) -> Response | None:
        if req.bearer() != self.request_token:
            return json_response({"message": "Bad credentials"}, 401)
        return None

    def make_jwt(self, audience: str) -> str:
        now = int(time.time())
        owner = self.repository.split("/")[0]
        claims = {
            "iss": ISSUER, "aud": audience, "sub": f"repo:{self.repository}:ref:{self.ref}",
            "repository": self.repository, "repository_owner": owner, "ref": self.ref,
            "iat": now, "nbf": now - 5, "exp": now + 300, "jti": secrets.token_hex(8),
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": "shipyard-test"}
        return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()),
                         _b64(secrets.token_bytes(64))])

    @route("GET", r"/[^/]+/_apis/distributedtask/hubs/Actions/plans/[^/]+/jobs/[^/]+/idtoken")
    def token(self, req: Request) -> Response:
        if req.query.get("api-version") != "2.0":
            return json_response({"message": "api-version 2.0 is required"}, 400)
        audience = req.query.get("audience") or f"https://github.com/{self.repository.split('/')[0]}"
        if audience not in self.allowed_audiences:
            return json_response({"message": f"audience '{audience}' not allowed"}, 400)
        jwt = self.make_jwt(audience)
        self.issued.append(jwt)
        return json_response({"count": len(jwt), "value": jwt})
