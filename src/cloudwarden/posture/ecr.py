"""ECR controls: image scanning, tag immutability, lifecycle policies."""

from __future__ import annotations

import fnmatch

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import ResourceDoc, Verdict, verdict
from cloudwarden.posture.registry import control

REPOSITORY = "AwsEcrRepository"


def registry_scans(doc: ResourceDoc, inv: Inventory) -> bool:
    """Does the registry's scanning configuration (enhanced or basic rules) cover this repository?"""
    for region_doc in inv.of_type(ACCOUNT_REGION, doc.account, doc.region):
        if "GetRegistryScanningConfiguration" not in region_doc.calls:
            continue
        answer = region_doc.call("GetRegistryScanningConfiguration") or {}
        for rule in (answer.get("scanningConfiguration") or {}).get("rules") or []:
            if rule.get("scanFrequency") not in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
                continue
            for item in rule.get("repositoryFilters") or []:
                if fnmatch.fnmatchcase(doc.label, str(item.get("filter", ""))):
                    return True
    return False


@control("ECR.1", title="ECR private repositories should have image scanning configured", severity=Severity.HIGH,
         resource_type=REPOSITORY, service="ecr",
         rationale="Scanning finds known vulnerabilities in images before they run.",
         remediation="Turn on scan on push for the repository (or a registry scanning rule covering it).",
         cli="aws ecr put-image-scanning-configuration --repository-name <repo> --image-scanning-configuration "
             "scanOnPush=true")
def scanning(doc: ResourceDoc, inv: Inventory) -> Verdict:
    on = bool((doc.data.get("imageScanningConfiguration") or {}).get("scanOnPush")) or registry_scans(doc, inv)
    return verdict(on, f"repository {doc.label} scans images", f"repository {doc.label} does not scan images on push")


@control("ECR.2", title="ECR private repositories should have tag immutability configured", severity=Severity.MEDIUM,
         resource_type=REPOSITORY, service="ecr",
         rationale="Mutable tags let a pushed image silently replace the one a deployment expects.",
         remediation="Make the repository's tags immutable.",
         cli="aws ecr put-image-tag-mutability --repository-name <repo> --image-tag-mutability IMMUTABLE")
def immutable_tags(doc: ResourceDoc, inv: Inventory) -> Verdict:
    mode = str(doc.need("imageTagMutability"))
    return verdict(mode.startswith("IMMUTABLE"), f"repository {doc.label} has immutable tags",
                   f"repository {doc.label} has mutable tags")


@control("ECR.3", title="ECR repositories should have at least one lifecycle policy configured",
         severity=Severity.MEDIUM, resource_type=REPOSITORY, service="ecr", calls=("GetLifecyclePolicy",),
         rationale="Lifecycle policies expire old images, which hold old vulnerabilities.",
         remediation="Add a lifecycle policy to the repository.",
         cli="aws ecr put-lifecycle-policy --repository-name <repo> --lifecycle-policy-text file://policy.json")
def lifecycle(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("GetLifecyclePolicy", not_configured=("LifecyclePolicyNotFoundException",))
    return verdict(answer is not None, f"repository {doc.label} has a lifecycle policy",
                   f"repository {doc.label} has no lifecycle policy")
