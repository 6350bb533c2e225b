"""moto in server mode (a separate process) on loopback, reachable by any subprocess.

It is the ECR control plane only: repositories, images-as-manifests, scanning, lifecycle policies,
authorization tokens.  There is no blob/layer API (use :class:`tests.stack.registry.Registry`
as the data plane).

moto quirks worth knowing (moto 5.2.1):

* ``put_image`` without ``imageDigest`` does **not** hash the manifest: the digest is
  ``sha256(''.join(layer digests))`` (or a random one if there are no layers).  Pass
  ``imageDigest=`` (the registry's manifest digest) to keep both sides consistent.
* ``put_image`` into a missing repository is an HTTP 500, not ``RepositoryNotFoundException``.
* Immutable tag conflicts raise ``ImageAlreadyExistsException`` (real ECR:
  ``ImageTagAlreadyExistsException``).
* ``get_authorization_token``: token = base64("AWS:{registry_id}-auth-token"), expiresAt is in
  2015, proxyEndpoint is ``https://{id}.dkr.ecr.{region}.amazonaws.com``.
* ``start_image_scan`` works once per image per day (``LimitExceededException``); scanOnPush
  does not trigger a scan; findings are a fake CVE-9999-9999 HIGH unless custom results were
  posted with :meth:`MotoServer.post_scan_findings`.
* State is process-global: call :meth:`MotoServer.reset` between tests that care.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import boto3
import requests

from .ports import (
    LOOPBACK,
    ChildService,
)

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
DEFAULT_ACCOUNT_ID = "123456789012"


class MotoServer(ChildService):
    """``python -m moto.server -H 127.0.0.1 -p PORT`` as a child process."""

    title = "moto server"

    def __init__(self, workdir: Path | str | None = None, region: str = "us-east-1") -> None:
        super().__init__(workdir, "moto-", "moto.log")
        self.region = region

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0, attempts: int = 3) -> MotoServer:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**_clean_env(), **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": self.region}
        self._launch(
            lambda port: [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
            self._healthy,
            timeout=timeout,
            attempts=attempts,
            env=env,
        )
        return self

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.endpoint_url}/moto-api/data.json", timeout=2).ok
        except requests.RequestException:
            return False

    # -- clients -------------------------------------------------------------------------------

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for ``service`` pointed at this server, with dummy credentials."""
        return boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=region or self.region,
        ).client(service, endpoint_url=self.endpoint_url)

    def env(self) -> dict[str, str]:
        """Env vars that point AWS SDKs/CLIs in a subprocess at this server (SDKs honour
        ``AWS_ENDPOINT_URL`` since botocore 1.31)."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    # -- moto control API ----------------------------------------------------------------------

    def reset(self) -> None:
        """Wipe all moto state (``POST /moto-api/reset``)."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def post_scan_findings(
        self,
        results: list[dict[str, Any]],
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        """Queue custom ``describe_image_scan_findings`` responses.

        POSTs ``{"results": results, "region": region, "account_id": account_id}`` to
        ``/moto-api/static/ecr/scan-finding-results``.  Each element of ``results`` is the *exact*
        response moto will return (minus ResponseMetadata), e.g.::

            {
                "registryId": "123456789012",
                "repositoryName": "svc/api",
                "imageId": {"imageTag": "v1"},            # or {"imageDigest": "sha256:..."}
                "imageScanStatus": {"status": "COMPLETE", "description": "done"},
                "imageScanFindings": {
                    "findings": [{"name": "CVE-2024-0001", "severity": "CRITICAL",
                                  "uri": "https://...", "attributes": []}],
                    "findingSeverityCounts": {"CRITICAL": 1},
                },
            }

        Matching (moto/ecr/models.py ``describe_image_scan_findings``): on the next
        describe call for an image of ``repositoryName`` whose tag equals ``imageId.imageTag`` or
        whose digest equals ``imageId.imageDigest`` (an empty ``imageId`` matches any image of the
        repo), pending results move to that image's queue.  Results are then handed out one per
        distinct ``imageId`` *argument* of the describe call (keyed by ``json.dumps(imageId)``) and
        stick to that key: describing by tag and by digest consume two results.  Unmatched images
        get the default fake CVE-9999-9999 HIGH.  The image must have been scanned
        (``start_image_scan``) or describe raises ``ScanNotFoundException``.  The region defaults
        to the server's region; ``reset()`` clears them.
        """
        payload = {"results": results, "region": region or self.region, "account_id": account_id}
        resp = requests.post(
            f"{self.endpoint_url}/moto-api/static/ecr/scan-finding-results", json=payload, timeout=10
        )
        resp.raise_for_status()


def _clean_env() -> dict[str, str]:
    # Do not let the caller's AWS profile or endpoint leak into the server process.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
