"""Read the config repository, Argo CD and ECR for one :class:`~shipyard.fleetview.fleet.Fleet`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.fleetview import argo, configrepo, overlays, registry
from shipyard.fleetview.fleet import Fleet, join
from shipyard.fleetview.sources import Sources
from shipyard.runtime import Action


def read_overlays(git_dir: str, src: Sources) -> tuple[str, list[overlays.Overlay]]:
    tip = configrepo.resolve(git_dir, "HEAD")
    files = configrepo.list_files(git_dir, tip, src.layout.prefix())
    slots = {path: slot for path in files if (slot := src.layout.match(path)) is not None}
    changes = configrepo.history(git_dir, tip, slots)
    blobs = configrepo.read_blobs(git_dir, [files[p] for p in slots] + [c.blob for cs in changes.values() for c in cs])
    found = [overlays.load(slot, path, blobs.get(files[path], ""), changes.get(path, []), blobs)
             for path, slot in sorted(slots.items())]
    return tip, found


def ecr_client_factory(action: Action, region: str) -> Callable[[str], Any]:
    from shipyard.ecr import aws

    creds = aws.resolve_credentials(action, region, 5, aws.endpoint_from_env(action, "sts"))
    endpoint = aws.endpoint_from_env(action, "ecr")
    cache: dict[str, Any] = {}

    def client_for(r: str) -> Any:
        if r not in cache:
            cache[r] = aws.ecr_client(r, endpoint, 5, creds, aws.retry_mode(action.env))
        return cache[r]

    return client_for


def read_fleet(action: Action, src: Sources, git_dir: str, now: float, *,
               ecr_for: Callable[[str], Any] | None = None) -> Fleet:
    """``git_dir`` is a bare clone of the config repository (see :func:`configrepo.clone`)."""
    tip, found = read_overlays(git_dir, src)
    view = argo.read(action, src.argocd_server, token=src.argocd_token, username=src.argocd_username,
                     password=src.argocd_password, project=src.argocd_project, selector=src.argocd_selector,
                     timeout=min(30.0, src.timeout), max_elapsed=min(60.0, src.timeout))
    if view.state in ("unreachable", "unauthorized"):
        action.warning(f"Argo CD: {view.detail} The cluster state is shown as unknown.")
    if ecr_for is None and src.aws_region:
        ecr_for = ecr_client_factory(action, src.aws_region)
    if ecr_for is not None:
        wanted = [(o.image.repository, o.image.digest) for o in found if o.image and o.image.digest]
        reg = registry.read(action, wanted, ecr_for)
        if reg.state == "error":
            action.warning(f"ECR: {reg.detail}")
    else:
        reg = registry.RegistryView("off", "no `aws-region` given")
    fleet = join(found, view, reg, tip=tip, branch=src.branch, now=now, source_env=src.source_env,
                 target_env=src.target_env, app_name=src.app_name, critical_at=src.critical_at)
    fleet.git_requests = 1
    return fleet
