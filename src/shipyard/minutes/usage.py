"""The usage of record from the enhanced billing platform.

* ``GET /organizations/{org}/settings/billing/usage/summary?year&month[&product]``: ``usageItems[]`` with
  ``product``, ``sku``, ``unitType``, ``grossQuantity`` (used), ``discountQuantity`` (covered by the included
  minutes) and ``netQuantity`` (paid), per SKU for the month.
* ``GET /organizations/{org}/settings/billing/usage?year&month``: ``usageItems[]`` per day, SKU and
  ``repositoryName`` (``quantity``), for the per-repository view and the reconciliation.

The legacy ``/orgs/{org}/settings/billing/actions`` answers 410 since 2025 and is never called. Both need the
organisation permission "Administration: read"; an account not on the enhanced billing platform answers 404/410.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shipyard.minutes.github import ApiError, GitHubApi
from shipyard.runtime import UserError

GRANT = ("grant the token the organisation permission \"Administration: read\" (GitHub App: Organization "
         "permissions > Administration > Read-only, then accept the new permission on the installation; "
         "fine-grained PAT: Organization permissions > Administration > Read-only; classic PAT: admin:org). "
         "It is set in the organisation's Settings > Developer settings (GitHub App) or your Settings > "
         "Developer settings > Personal access tokens.")


@dataclass
class UsageOfRecord:
    gross: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # sku -> minutes used
    included: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # discountQuantity
    paid: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # netQuantity
    paid_amount: float = 0.0
    by_repo: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # repo -> minutes (all SKUs)
    by_day: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    repo_report: bool = False  # the per-day/per-repository report was available

    @property
    def minutes(self) -> float:
        return sum(self.gross.values())


def _is_minutes(item: dict[str, object]) -> bool:
    product = str(item.get("product") or "").lower()
    unit = str(item.get("unitType") or item.get("unit_type") or "minutes").lower()
    return product == "actions" and unit.startswith("minute")


def _refusal(exc: ApiError, org: str) -> UserError:
    if exc.status in (403,):
        return UserError(
            f"GitHub refused the billing usage of '{org}' (403: {exc.message or 'Resource not accessible'}).",
            GRANT, input_name="github-token", title="missing permission")
    if exc.status in (404, 410):
        return UserError(
            f"The organisation '{org}' has no usage report ({exc.status} on {exc.path}): it is not on GitHub's "
            "enhanced billing platform, or the name is wrong. The retired /orgs/{org}/settings/billing/actions "
            "endpoint cannot replace it (it answers 410).",
            "check the `organization` input; an account on the old billing platform must move to the enhanced "
            "billing platform (Settings > Billing and licensing) before its usage can be read through the API.",
            input_name="organization", title="usage report unavailable")
    if exc.status == 401:
        return UserError("GitHub refused the token (401 Bad credentials).",
                         "pass a valid token in `github-token` (an expired PAT or a revoked App key?).",
                         input_name="github-token")
    return UserError(f"GitHub answered {exc.status} for the billing usage: {exc.message}.",
                     "retry later; if it persists check GitHub's status page.")


def fetch(api: GitHubApi, org: str, year: int, month: int) -> UsageOfRecord:
    usage = UsageOfRecord()
    base = f"/organizations/{org}/settings/billing/usage"
    try:
        summary, _ = api.get(f"{base}/summary", {"year": year, "month": month, "product": "actions"},
                             compact=lambda body: body)
    except ApiError as exc:
        raise _refusal(exc, org) from None
    for item in (summary or {}).get("usageItems") or []:
        if not isinstance(item, dict) or not _is_minutes(item):
            continue
        sku = str(item.get("sku") or "?")
        usage.gross[sku] += float(item.get("grossQuantity") or 0)
        usage.included[sku] += float(item.get("discountQuantity") or 0)
        usage.paid[sku] += float(item.get("netQuantity") or 0)
        usage.paid_amount += float(item.get("netAmount") or 0)
    try:
        report, _ = api.get(base, {"year": year, "month": month}, compact=_compact_report)
    except ApiError:
        return usage  # the summary is the usage of record; the per-repository report is a bonus
    usage.repo_report = True
    for repo, minutes in report["repos"].items():
        usage.by_repo[repo] += minutes
    for day, minutes in report["days"].items():
        usage.by_day[day] += minutes
    return usage


def _compact_report(body: Any) -> dict[str, dict[str, float]]:
    """Only the sums are kept (the report has a row per day, SKU and repository)."""
    repos: dict[str, float] = defaultdict(float)
    days: dict[str, float] = defaultdict(float)
    for item in (body or {}).get("usageItems") or []:
        if not isinstance(item, dict) or not _is_minutes(item):
            continue
        quantity = float(item.get("quantity") or 0)
        repos[str(item.get("repositoryName") or "?")] += quantity
        days[str(item.get("date") or "")[:10]] += quantity
    return {"repos": dict(repos), "days": dict(days)}
