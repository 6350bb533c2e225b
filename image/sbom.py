#!/usr/bin/env python3
"""Write the image's SBOM (SPDX 2.3 JSON) from its Debian package list and its Python distributions.

    python3 image/sbom.py --name NAME --created ISO --dpkg dpkg.tsv --python python.json > sbom.spdx.json

``dpkg.tsv``: ``dpkg-query -W -f='${Package}\\t${Version}\\t${Architecture}\\n'`` run in the image;
``python.json``: a JSON list of ``[name, version]`` of every distribution in the image's venv.
Standard library only: it runs on the build machine before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path


def _spdx_id(kind: str, name: str, version: str) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", f"{kind}-{name}-{version}")


def document(name: str, created: str, dpkg: list[tuple[str, str, str]], python: list[tuple[str, str]]) -> dict:
    packages = []
    for pkg, version, arch in dpkg:
        packages.append(
            {
                "SPDXID": _spdx_id("deb", pkg, version),
                "name": pkg,
                "versionInfo": version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "supplier": "Organization: Debian",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": f"pkg:deb/debian/{pkg}@{version}?arch={arch}",
                    }
                ],
            }
        )
    for dist, version in python:
        norm = re.sub(r"[-_.]+", "-", dist).lower()
        packages.append(
            {
                "SPDXID": _spdx_id("pypi", norm, version),
                "name": norm,
                "versionInfo": version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": f"pkg:pypi/{norm}@{version}",
                    }
                ],
            }
        )
    digest = hashlib.sha256(json.dumps([dpkg, python]).encode()).hexdigest()
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://spdx.org/spdxdocs/{name}-{digest[:16]}",
        "creationInfo": {"created": created, "creators": ["Tool: shipyard image/sbom.py"]},
        "packages": packages,
        "relationships": [
            {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": p["SPDXID"]}
            for p in packages
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--created", required=True)
    parser.add_argument("--dpkg", type=Path, required=True)
    parser.add_argument("--python", type=Path, required=True)
    args = parser.parse_args(argv)
    dpkg = [tuple(line.split("\t")) for line in args.dpkg.read_text().splitlines() if line.count("\t") == 2]
    python = [tuple(item) for item in json.loads(args.python.read_text())]
    json.dump(document(args.name, args.created, dpkg, python), sys.stdout, indent=1, sort_keys=True)  # type: ignore[arg-type]
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
