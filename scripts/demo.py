#!/usr/bin/env python3
"""The end-to-end demo's entry point: the harness lives in tests/pipeline/demo.py (the tests import it from there).

    .venv/bin/python scripts/demo.py [--runs 1] [--scan-failure] [--keep] [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.pipeline.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
