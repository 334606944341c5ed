"""boto3 sessions and clients: the one place that decides endpoints, retries, rate limits and accounts.

The names below load on first use (PEP 562), so that importing :mod:`cloudwarden.aws.target` does not
import boto3.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AwsTarget": "cloudwarden.aws.target",
    "CallCounter": "cloudwarden.aws.session",
    "ClientFactory": "cloudwarden.aws.session",
    "caller_identity": "cloudwarden.aws.session",
    "check_reachable": "cloudwarden.aws.session",
    "make_client": "cloudwarden.aws.session",
    "make_session": "cloudwarden.aws.session",
    "RateLimit": "cloudwarden.aws.ratelimit",
    "RateLimiter": "cloudwarden.aws.ratelimit",
    "TokenBucket": "cloudwarden.aws.ratelimit",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
