"""Required literals of regular expressions (detect/sigma/regex_literal.py), checked against RE2 itself."""

from __future__ import annotations

import pytest
import re2  # type: ignore[import-untyped]

from cloudwarden.detect.sigma.regex_literal import required_literal


@pytest.mark.parametrize(("pattern", "literal"), [
    (".+:assumed-role/aws:.+", ":assumed-role/aws:"),
    ("kali", "kali"),
    (r"x\.y\.z", "x.y.z"),
    ("ab{0,2}cde", "cde"),
    ("[abc]xyzw", "xyzw"),
    (r"foo\dbar", "foo"),
    ("^abcd$", "abcd"),
    ("abc+", "abc"),
    ("abcx*", "abc"),
])
def test_finds_the_longest_required_run(pattern: str, literal: str) -> None:
    assert required_literal(pattern) == literal


@pytest.mark.parametrize("pattern", [
    "abc|def", "a(bcd)e", "(?i)abcd", "ab+cd", "abc?de", "ab", r"\x41\x42\x43", "[[:alpha:]]abcd", "*abc",
    "ab{2}cd", r"abc\1",
])
def test_gives_up_or_finds_nothing_long_enough(pattern: str) -> None:
    assert required_literal(pattern) is None


@pytest.mark.parametrize("pattern", [".+:assumed-role/aws:.+", "ab{0,2}cde", "abcx*", r"x\.y\.z", "[abc]xyzw"])
@pytest.mark.parametrize("text", ["arn:aws:sts::1:assumed-role/aws:x/y", "acde", "ab", "abcxx", "x.y.z", "bxyzw",
                                  "abbcde", "nothing here", ""])
def test_every_match_contains_the_literal(pattern: str, text: str) -> None:
    literal = required_literal(pattern)
    assert literal is not None
    if re2.search(pattern, text):
        assert literal in text
