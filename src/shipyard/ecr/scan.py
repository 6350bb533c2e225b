"""The post-push scan gate: wait (bounded) for findings, apply a severity threshold and a CVE allowlist.

Works with basic scanning (``findings``: name/severity) and enhanced scanning (``enhancedFindings``:
``packageVulnerabilityDetails.vulnerabilityId``/severity). When scan-on-push did not start a scan (moto never
does; real ECR can lag) the gate starts one; ``LimitExceededException`` (one manual scan per image per day) means
a scan already ran today, so the gate just reads its findings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.ecr.aws import call, error_code, error_message
from shipyard.runtime import Action, UserError, format_duration

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
CVE_RE = re.compile(r"^[A-Za-z]+-[\w.-]+$")
PENDING = frozenset({"IN_PROGRESS", "PENDING", "SCAN_ELIGIBILITY_EXPIRED_PENDING"})


@dataclass
class Finding:
    id: str
    severity: str
    package: str = ""
    uri: str = ""


@dataclass
class Allow:
    id: str
    until: dt.date | None = None


@dataclass
class ScanResult:
    status: str
    findings: list[Finding] = field(default_factory=list)
    blocking: list[Finding] = field(default_factory=list)
    allowed: list[Finding] = field(default_factory=list)
    expired_allows: list[Allow] = field(default_factory=list)
    unused_allows: list[Allow] = field(default_factory=list)
    waited: float = 0.0
    description: str = ""

    def counts(self) -> Counter[str]:
        return Counter(f.severity for f in self.findings)


def parse_allowlist(items: Sequence[str], today: dt.date) -> tuple[dict[str, Allow], list[Allow]]:
    """``CVE-2024-1234`` or ``CVE-2024-1234 until 2026-12-31`` (``until`` optional). Returns (active, expired)."""
    active: dict[str, Allow] = {}
    expired: list[Allow] = []
    for item in items:
        parts = item.split()
        cve = parts[0].upper() if parts else ""
        until: dt.date | None = None
        rest = [p for p in parts[1:] if p.lower() not in ("until", "expires")]
        if not CVE_RE.match(cve) or len(rest) > 1:
            raise UserError(f"Input 'allow-cves' has '{item}', which is not a vulnerability ID with an optional date.",
                            "write one per line: `CVE-2024-1234` or `CVE-2024-1234 until 2026-12-31`.",
                            input_name="allow-cves")
        if rest:
            try:
                until = dt.date.fromisoformat(rest[0])
            except ValueError:
                raise UserError(f"Input 'allow-cves' has the date '{rest[0]}' in '{item}', which is not YYYY-MM-DD.",
                                f"write the expiry as a calendar date: `{cve} until 2026-12-31`.",
                                input_name="allow-cves") from None
        entry = Allow(cve, until)
        if until is not None and until < today:
            expired.append(entry)
        else:
            active[cve] = entry
    return active, expired


def findings_from(response: dict[str, Any]) -> list[Finding]:
    scan = response.get("imageScanFindings") or {}
    out: list[Finding] = []
    for f in scan.get("findings") or []:
        attrs = {a.get("key"): a.get("value") for a in f.get("attributes") or [] if isinstance(a, dict)}
        package = " ".join(p for p in (attrs.get("package_name"), attrs.get("package_version")) if p)
        out.append(Finding(str(f.get("name") or "?"), str(f.get("severity") or "UNDEFINED").upper(), package,
                           str(f.get("uri") or "")))
    for f in scan.get("enhancedFindings") or []:
        details = f.get("packageVulnerabilityDetails") or {}
        packages = details.get("vulnerablePackages") or []
        package = " ".join(str(packages[0].get(k) or "") for k in ("name", "version")).strip() if packages else ""
        out.append(Finding(str(details.get("vulnerabilityId") or f.get("title") or "?"),
                           str(f.get("severity") or "UNDEFINED").upper(), package, str(details.get("sourceUrl") or "")))
    return out


def evaluate(findings: list[Finding], threshold: str | None, allow: dict[str, Allow],
             expired: list[Allow], status: str = "COMPLETE") -> ScanResult:
    result = ScanResult(status, findings, expired_allows=expired)
    used: set[str] = set()
    for finding in findings:
        if threshold is None or RANK.get(finding.severity, len(SEVERITIES)) > RANK[threshold]:
            continue
        if finding.id.upper() in allow:
            used.add(finding.id.upper())
            result.allowed.append(finding)
        else:
            result.blocking.append(finding)
    result.unused_allows = [a for cve, a in allow.items() if cve not in used and
                            all(f.id.upper() != cve for f in findings)]
    return result


def _describe_all(action: Action, ecr: Any, repository: str, registry_id: str, digest: str) -> dict[str, Any]:
    """All pages of DescribeImageScanFindings (bounded), findings merged into the first page."""
    params: dict[str, Any] = {"repositoryName": repository, "registryId": registry_id,
                              "imageId": {"imageDigest": digest}, "maxResults": 1000}
    first = call(action, ecr, "describe_image_scan_findings", **params)
    token = first.get("nextToken")
    pages = 0
    while token and pages < 50:
        pages += 1
        page = call(action, ecr, "describe_image_scan_findings", **params, nextToken=token)
        scan = first.setdefault("imageScanFindings", {})
        for key in ("findings", "enhancedFindings"):
            scan.setdefault(key, []).extend((page.get("imageScanFindings") or {}).get(key) or [])
        token = page.get("nextToken")
    return first


SCAN_ON_PUSH_GRACE_POLLS = 3


def wait_for_scan(
    action: Action, ecr: Any, repository: str, registry_id: str, digest: str, *,
    timeout: float, interval: float = 5.0, scan_on_push: bool = False,
) -> tuple[str, dict[str, Any], float]:
    """(status, response, seconds waited). Bounded by ``timeout``.

    When no scan exists: with scan on push, give ECR a few polls to start it (a manual scan would spend the
    one-per-day quota); then start one.
    """
    start = action.clock()
    started = False
    polls = 0
    while True:
        polls += 1
        try:
            response = _describe_all(action, ecr, repository, registry_id, digest)
        except Exception as exc:
            if error_code(exc) != "ScanNotFoundException":
                raise
            grace = scan_on_push and polls <= SCAN_ON_PUSH_GRACE_POLLS
            if started or grace:
                response = {"imageScanStatus": {"status": "PENDING"}}
            else:
                started = True
                try:
                    call(action, ecr, "start_image_scan", repositoryName=repository, registryId=registry_id,
                         imageId={"imageDigest": digest})
                    action.info(f"started a scan of {repository}@{digest} (scan on push had not started one)")
                except Exception as start_exc:
                    code = error_code(start_exc)
                    if code == "LimitExceededException":
                        action.info("ECR allows one manual scan per image per day and this image was scanned today; "
                                    "reading that scan's findings")
                    elif code in ("UnsupportedImageTypeException", "ValidationException"):
                        return "UNSUPPORTED_IMAGE", {"imageScanStatus": {"status": "UNSUPPORTED_IMAGE",
                                                                         "description": error_message(start_exc)}}, 0.0
                    else:
                        raise
                continue
        status = str((response.get("imageScanStatus") or {}).get("status") or "PENDING")
        waited = action.clock() - start
        if status not in PENDING:
            return status, response, waited
        if waited + interval > timeout or polls > 10000:
            return "TIMEOUT", response, waited
        action.sleep(interval)


def gate(action: Action, ecr: Any, repository: str, registry_id: str, digest: str, *, threshold: str | None,
         allow_items: Sequence[str], timeout: float, interval: float, today: dt.date | None = None,
         scan_on_push: bool = False) -> ScanResult:
    allow, expired = parse_allowlist(allow_items, today or dt.date.today())
    for entry in expired:
        action.warning(f"allow-cves: the exception for {entry.id} expired on {entry.until}; it no longer applies")
    status, response, waited = wait_for_scan(action, ecr, repository, registry_id, digest, timeout=timeout,
                                             interval=interval, scan_on_push=scan_on_push)
    description = str((response.get("imageScanStatus") or {}).get("description") or "")
    if status != "COMPLETE" and status != "ACTIVE":
        result = ScanResult(status, expired_allows=expired, waited=waited, description=description)
        return result
    result = evaluate(findings_from(response), threshold, allow, expired, status)
    result.waited = waited
    result.description = description
    return result


def summary_rows(result: ScanResult) -> list[tuple[str, int]]:
    counts = result.counts()
    return [(s, counts[s]) for s in SEVERITIES if counts.get(s)]


def top_findings(result: ScanResult, limit: int = 10) -> list[tuple[str, str, str, str]]:
    allowed = {id(f) for f in result.allowed}
    blocking = {id(f) for f in result.blocking}
    ordered = sorted(result.findings, key=lambda f: (RANK.get(f.severity, 99), f.id))
    rows = []
    for f in ordered[:limit]:
        verdict = "blocks" if id(f) in blocking else ("allowed" if id(f) in allowed else "below threshold")
        rows.append((f.id, f.severity, f.package, verdict))
    return rows


def describe_wait(result: ScanResult) -> str:
    return format_duration(result.waited)
