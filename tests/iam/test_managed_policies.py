"""Every AWS managed policy moto ships (real documents IAM accepted) gets no ERROR, and no grammar error at all."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from cloudwarden.iam.validate import Level, catalog_version, check_grammar, validate_policy

CHUNKS = 8


@cache
def _policies() -> list[tuple[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data = json.loads(aws_managed_policies_data)
    return sorted((name, entry["Document"]) for name, entry in data.items())


def test_moto_ships_the_managed_policies() -> None:
    assert len(_policies()) > 1000
    assert catalog_version().startswith("0.")


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_managed_policies_have_no_errors(chunk: int) -> None:
    errors: list[str] = []
    for name, document in _policies()[chunk::CHUNKS]:
        grammar = check_grammar(document)
        if grammar is not None:
            errors.append(f"{name}: grammar {grammar.code} at {grammar.pointer}: {grammar.message}")
        for issue in validate_policy(document, policy_type=None, policy_path=name):
            if issue.level is Level.ERROR:
                errors.append(f"{name}: {issue.code} at {issue.pointer}: {issue.message}")
    assert not errors, "\n".join(errors[:20])


def test_the_known_findings_in_managed_policies_are_found() -> None:
    """The checks are not silent on these documents: AdministratorAccess is the textbook wildcard admin."""
    documents = dict(_policies())
    found = {i.code for i in validate_policy(documents["AdministratorAccess"], policy_type=None)}
    assert "WILDCARD_ADMIN" in found
