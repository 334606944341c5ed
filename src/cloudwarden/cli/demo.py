"""`cloudwarden demo`: the whole pipeline against the embedded lab."""

from __future__ import annotations


def demo() -> None:
    """Start the lab, seed the demo organisation, play traffic and attacks, analyse, report."""
    raise NotImplementedError
