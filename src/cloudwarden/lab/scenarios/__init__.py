"""Game-day attack scenarios played against the lab: the registry and the function that runs them.

``SCENARIOS`` is a plain mapping, name -> :class:`Scenario`, in the order ``all`` plays them: the
scenarios that blind telemetry (``compromised-credentials`` stops the prod trail, ``log-tampering``
deletes flow logs) come last so the others are still recorded everywhere. Each scenario lives in its
own module; adding one is one module and one line here.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.scenarios import (
    compromised_credentials,
    console_no_mfa,
    crypto_mining,
    ec2_compromise,
    log_tampering,
    privilege_escalation,
    public_s3_exposure,
    root_usage,
    secrets_harvest,
    snapshot_exfiltration,
)
from cloudwarden.lab.scenarios.base import LabHelper, Scenario, ScenarioContext, ScenarioResult
from cloudwarden.lab.seed.result import SeedResult

__all__ = ["SCENARIOS", "LabHelper", "Scenario", "ScenarioContext", "ScenarioResult", "run_scenario",
           "scenario_names"]

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        console_no_mfa.SCENARIO,
        root_usage.SCENARIO,
        public_s3_exposure.SCENARIO,
        ec2_compromise.SCENARIO,
        privilege_escalation.SCENARIO,
        secrets_harvest.SCENARIO,
        snapshot_exfiltration.SCENARIO,
        crypto_mining.SCENARIO,
        compromised_credentials.SCENARIO,
        log_tampering.SCENARIO,
    )
}


def scenario_names(name: str) -> list[str]:
    """``"all"`` -> every scenario in play order; a known name -> itself; else :class:`BadInputError`."""
    if name == "all":
        return list(SCENARIOS)
    if name not in SCENARIOS:
        raise BadInputError("SCENARIO", f"unknown scenario {name!r}; valid: all, {', '.join(sorted(SCENARIOS))}")
    return [name]


def run_scenario(name: str, endpoint_url: str, seed: SeedResult, lab_client: LabHelper, *,
                 rng_seed: int = 7) -> list[ScenarioResult]:
    """Play one scenario (or ``"all"``, in order) against the lab; one result per scenario played."""
    names = scenario_names(name)
    results = []
    for scenario_name in names:
        # One generator per scenario, keyed by its name: a scenario plays the same alone or in "all".
        ctx = ScenarioContext(endpoint_url, seed, lab_client, rng=random.Random(f"{rng_seed}:{scenario_name}"))
        started = datetime.now(UTC)
        SCENARIOS[scenario_name].run(ctx)
        results.append(ctx.result(scenario_name, started))
    return results
