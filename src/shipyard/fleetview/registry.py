"""ECR facts about each deployed digest: is it there, when was it pushed, what did the scan find.

``DescribeImages`` per repository in batches of 100 digests (ECR's limit), then ``DescribeImageScanFindings``
only for the digests whose ``DescribeImages`` answer carries no findings summary (moto never includes one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.runtime import Action, UserError

ECR_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")


@dataclass(frozen=True)
class EcrRepo:
    account: str
    region: str
    name: str


@dataclass
class ImageFacts:
    found: bool
    pushed_at: float | None = None
    scan: str = ""  # COMPLETE | FAILED | IN_PROGRESS | not-scanned | ... ("" when unknown)
    counts: dict[str, int] = field(default_factory=dict)
    problem: str = ""

    def at_or_above(self, severity: str) -> int:
        rank = SEVERITIES.index(severity)
        return sum(n for s, n in self.counts.items() if s in SEVERITIES and SEVERITIES.index(s) <= rank)


@dataclass
class RegistryView:
    state: str  # ok | off | error
    detail: str = ""
    facts: dict[tuple[EcrRepo, str], ImageFacts] = field(default_factory=dict)
    requests: int = 0

    def lookup(self, repository: str, digest: str | None) -> ImageFacts | None:
        repo = ecr_repo(repository)
        if repo is None or not digest:
            return None
        return self.facts.get((repo, digest))


def ecr_repo(repository: str) -> EcrRepo | None:
    host, _, path = repository.partition("/")
    m = ECR_HOST.fullmatch(host)
    if m is None or not path:
        return None
    return EcrRepo(m.group("account"), m.group("region"), path)


def _pushed(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return None


def read(action: Action, wanted: Iterable[tuple[str, str]], client_for: Any, workers: int = 8) -> RegistryView:
    """``wanted``: (repository, digest) pairs; ``client_for(region)`` gives a boto3 ECR client (thread-safe once
    made). Repositories are read ``workers`` at a time."""
    from shipyard.ecr import aws
    from shipyard.gitops.imageref import DIGEST_RE

    groups: dict[EcrRepo, set[str]] = {}
    bad: dict[tuple[EcrRepo, str], ImageFacts] = {}
    for repository, digest in wanted:
        repo = ecr_repo(repository)
        if repo is None or not digest:
            continue
        if DIGEST_RE.fullmatch(digest) is None:  # never sent to AWS: it would only answer InvalidParameter
            bad[(repo, digest)] = ImageFacts(False, problem="the overlay's digest is not sha256:<hex>")
            continue
        groups.setdefault(repo, set()).add(digest)
    view = RegistryView("ok", f"{sum(len(v) for v in groups.values())} digests in {len(groups)} repositories")
    view.facts.update(bad)
    if not groups:
        view.detail = "no ECR image pinned by digest in the overlays"
        return view
    from concurrent.futures import ThreadPoolExecutor

    def one(repo: EcrRepo, digests: set[str]) -> RegistryView:
        part = RegistryView("ok")
        ecr = client_for(repo.region)
        _describe(action, aws, ecr, repo, sorted(digests), part)
        for digest in sorted(digests):
            facts = part.facts[(repo, digest)]
            if facts.found and not facts.counts and facts.scan in ("", "COMPLETE"):
                _findings(action, aws, ecr, repo, digest, facts, part)
        return part

    from botocore.exceptions import BotoCoreError, ClientError

    ordered = sorted(groups.items(), key=lambda kv: (kv[0].region, kv[0].name))
    try:
        for repo, _ in ordered:  # create the clients up front (botocore's client creation is not thread-safe)
            client_for(repo.region)
        with ThreadPoolExecutor(max_workers=min(workers, len(ordered))) as pool:
            for part in pool.map(lambda kv: one(*kv), ordered):
                view.facts.update(part.facts)
                view.requests += part.requests
    except UserError as exc:
        view.state, view.detail = "error", exc.message + (f" Fix: {exc.fix}" if exc.fix else "")
    except (BotoCoreError, ClientError) as exc:  # no credentials, a bad endpoint, an unexpected AWS answer
        view.state, view.detail = "error", f"ECR could not be read: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return view


def _describe(action: Action, aws: Any, ecr: Any, repo: EcrRepo, digests: list[str], view: RegistryView) -> None:
    for start in range(0, len(digests), 100):
        batch = digests[start : start + 100]
        try:
            view.requests += 1
            answer = aws.call(action, ecr, "describe_images", repositoryName=repo.name, registryId=repo.account,
                              imageIds=[{"imageDigest": d} for d in batch])
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "RepositoryNotFoundException":
                for d in batch:
                    view.facts[(repo, d)] = ImageFacts(False, problem=f"repository {repo.name} does not exist")
                continue
            if code == "ImageNotFoundException" and len(batch) > 1:
                for d in batch:  # one missing digest fails the whole call: ask one by one
                    _describe(action, aws, ecr, repo, [d], view)
                continue
            if code == "ImageNotFoundException":
                view.facts[(repo, batch[0])] = ImageFacts(False, problem=f"digest not in {repo.name}")
                continue
            raise
        for failure in answer.get("failures") or []:
            d = str((failure.get("imageId") or {}).get("imageDigest") or "")
            if d:
                view.facts[(repo, d)] = ImageFacts(False, problem=str(failure.get("failureReason") or "not found"))
        for detail in answer.get("imageDetails") or []:
            d = str(detail.get("imageDigest") or "")
            summary = detail.get("imageScanFindingsSummary") or {}
            counts = {str(k).upper(): int(v) for k, v in (summary.get("findingSeverityCounts") or {}).items()}
            status = str((detail.get("imageScanStatus") or {}).get("status") or "")
            view.facts[(repo, d)] = ImageFacts(True, _pushed(detail.get("imagePushedAt")), status, counts)
        for d in batch:
            view.facts.setdefault((repo, d), ImageFacts(False, problem=f"digest not in {repo.name}"))


def _findings(action: Action, aws: Any, ecr: Any, repo: EcrRepo, digest: str, facts: ImageFacts,
              view: RegistryView) -> None:
    try:
        view.requests += 1
        answer = aws.call(action, ecr, "describe_image_scan_findings", repositoryName=repo.name,
                          registryId=repo.account, imageId={"imageDigest": digest})
    except Exception as exc:
        if aws.error_code(exc) in ("ScanNotFoundException", "ImageNotFoundException"):
            facts.scan = "not-scanned"
            return
        raise
    facts.scan = str((answer.get("imageScanStatus") or {}).get("status") or facts.scan or "")
    findings = answer.get("imageScanFindings") or {}
    facts.counts = {str(k).upper(): int(v) for k, v in (findings.get("findingSeverityCounts") or {}).items()}
