"""Builds the demo organisation in the lab: ``seed_demo(endpoint_url, state_dir)``.

The lab (moto's server in this process) starts empty; ``cloudwarden lab up --seed demo`` and
``cloudwarden demo`` call :func:`seed_demo` before the CloudTrail recorder starts, so seeding leaves
no trail records. One module per service family builds its part through the real API; what was
built, and the ids AWS generated, go to ``<state_dir>/seed.json`` (:class:`SeedResult`). Every
name comes from :mod:`cloudwarden.lab.demo_org`; the deliberate weaknesses are listed in
``docs/demo-org.md``.
"""

from __future__ import annotations

from cloudwarden.lab.seed.build import seed_demo
from cloudwarden.lab.seed.result import AccessKeyPair, SeedResult

__all__ = ["AccessKeyPair", "SeedResult", "seed_demo"]
