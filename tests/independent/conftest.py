"""Make ``tests.independent.checker`` importable however pytest is started: with
``--import-mode=importlib`` (pyproject) and the ``.venv/bin/pytest`` entry point the repository
root is not on ``sys.path``, so the test module's ``from tests.independent.checker import ...``
failed at collection."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
