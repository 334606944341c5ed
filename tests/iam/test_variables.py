"""Policy variables (iam/variables.py)."""

from __future__ import annotations

import pytest

from cloudwarden.iam.variables import MultivaluedVariable, UnresolvedVariable, Variable, Wildcard, parse_template


def test_parse_splits_literals_wildcards_and_variables() -> None:
    t = parse_template("home/${aws:username}/*", variables=True, wildcards=True)
    assert t.has_variables and t.has_wildcards
    assert t.parts[1] == Variable("aws:username", "aws:username", None)
    assert t.parts[-1] == Wildcard("*")
    assert t.variable_keys() == ("aws:username",)


def test_substitution_is_literal() -> None:
    t = parse_template("a/${aws:PrincipalTag/x}/b", variables=True, wildcards=True)
    runs = t.resolve({"aws:principaltag/x": "*?"})
    assert ("*?", False) in runs  # the value's * and ? are text, not wildcards


def test_special_variables_and_defaults() -> None:
    t = parse_template("${*}${?}${$}-${aws:userid, 'anonymous'}", variables=True, wildcards=True)
    assert not t.has_wildcards
    assert t.resolve_text({}) == "*?$-anonymous"
    assert t.resolve_text({"aws:userid": "AIDA1"}) == "*?$-AIDA1"


def test_unresolved_and_multivalued() -> None:
    t = parse_template("${aws:username}", variables=True, wildcards=False)
    with pytest.raises(UnresolvedVariable) as err:
        t.resolve({})
    assert err.value.key == "aws:username"
    with pytest.raises(UnresolvedVariable):
        t.resolve({"aws:username": ()})
    with pytest.raises(MultivaluedVariable):
        t.resolve({"aws:username": ("a", "b")})


def test_old_versions_keep_text() -> None:
    t = parse_template("${aws:username}*", variables=False, wildcards=True)
    assert not t.has_variables and t.has_wildcards
    assert t.resolve({}) == (("${aws:username}", False), ("*", True))


def test_unterminated_variable_is_text() -> None:
    assert parse_template("a${b", variables=True, wildcards=False).resolve_text({}) == "a${b"
