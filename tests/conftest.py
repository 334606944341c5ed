"""Shared test helpers: third-party data from ../shared (read in place) and the lab fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Compiled Sigma rules are cached on disk between runs (detect/rules/sigma_cache.py); tests compile afresh, so
# that one test's result never stands in for another's. The cache's own tests turn it on in a temporary place.
os.environ["CLOUDWARDEN_CACHE"] = "off"

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test when ../shared is absent, fails instead under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"{path} is absent (third-party test data is read in place from ../shared)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
