"""boto3 sessions and clients: the one place that decides endpoints, retries, rate limits and accounts."""

from cloudwarden.aws.ratelimit import RateLimit, RateLimiter, TokenBucket
from cloudwarden.aws.session import (
    AwsTarget,
    CallCounter,
    ClientFactory,
    caller_identity,
    check_reachable,
    make_client,
    make_session,
)

__all__ = [
    "AwsTarget",
    "CallCounter",
    "ClientFactory",
    "RateLimit",
    "RateLimiter",
    "TokenBucket",
    "caller_identity",
    "check_reachable",
    "make_client",
    "make_session",
]
