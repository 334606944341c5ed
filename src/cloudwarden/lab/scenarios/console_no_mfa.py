"""console-no-mfa: a password guessed at the console, then a sign-in without MFA.

bob has a console password and no MFA device. From ``ATTACKER_IP`` a browser fails to sign in as bob
a dozen times, then succeeds without MFA. Console sign-ins have no API: they go through the lab's
console-login helper, which records ``ConsoleLogin`` events as ``signin.amazonaws.com`` does.
"""

from __future__ import annotations

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import BROWSER_USER_AGENT, Scenario, ScenarioContext

FAILED_ATTEMPTS = 12


def run(ctx: ScenarioContext) -> None:
    for _ in range(FAILED_ATTEMPTS):
        ctx.console_login("prod", org.USER_BOB, mfa_used=False, success=False, source_ip=org.ATTACKER_IP,
                          user_agent=BROWSER_USER_AGENT)
    ctx.console_login("prod", org.USER_BOB, mfa_used=False, success=True, source_ip=org.ATTACKER_IP,
                      user_agent=BROWSER_USER_AGENT)


SCENARIO = Scenario(
    name="console-no-mfa",
    title="Console password brute force, then a sign-in without MFA",
    description=(
        f"{FAILED_ATTEMPTS} failed ConsoleLogin events for prod/{org.USER_BOB} from {org.ATTACKER_IP} "
        "(Firefox on Linux), then one successful ConsoleLogin with MFAUsed \"No\" from the same address."
    ),
    mitre=("T1110.001", "T1078.004"),
    finding_types=(
        "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        "InitialAccess:IAMUser/AnomalousBehavior",
    ),
    run=run,
)
