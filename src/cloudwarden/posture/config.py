"""AWS Config: a recorder recording every supported resource type in every region (CIS 3.3)."""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import ResourceDoc, Verdict, failed, passed
from cloudwarden.posture.registry import control


@control("Config.1", title="AWS Config should be enabled and use the service-linked role for resource recording",
         severity=Severity.MEDIUM, resource_type=ACCOUNT_REGION, service="config",
         calls=("DescribeConfigurationRecorders", "DescribeConfigurationRecorderStatus"),
         rationale="Config's history of resource configurations is what an investigation reconstructs change from.",
         remediation="Create a recorder for all supported resource types and start it, in every region.",
         cli="aws configservice put-configuration-recorder --configuration-recorder name=default,roleARN=<arn> "
             "--recording-group allSupported=true,includeGlobalResourceTypes=true; "
             "aws configservice start-configuration-recorder --configuration-recorder-name default")
def recorder(doc: ResourceDoc, inv: Inventory) -> Verdict:
    recorders = (doc.call("DescribeConfigurationRecorders") or {}).get("ConfigurationRecorders") or []
    if not recorders:
        return failed(f"AWS Config has no recorder in {doc.account}/{doc.region}")
    statuses = {s.get("name"): s for s in
                (doc.call("DescribeConfigurationRecorderStatus") or {}).get("ConfigurationRecordersStatus") or []}
    for item in recorders:
        group = item.get("recordingGroup") or {}
        recording = bool((statuses.get(item.get("name")) or {}).get("recording"))
        if group.get("allSupported") and recording:
            return passed(f"recorder {item.get('name')} records all resource types in {doc.region}")
    return failed(f"no AWS Config recorder in {doc.account}/{doc.region} records all resource types")
