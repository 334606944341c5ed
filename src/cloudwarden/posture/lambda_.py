"""Lambda controls: public function policies, supported runtimes, multi-AZ VPC functions, and secrets in
environment variables (from the collector's per-variable verdicts; values are never stored).
"""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, passed, verdict
from cloudwarden.posture.policy import public_statements
from cloudwarden.posture.registry import control

FUNCTION = "AwsLambdaFunction"
# Runtimes Lambda still supports for creating and updating functions (AWS "Lambda runtimes" page, 2025).
SUPPORTED_RUNTIMES = frozenset({
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
    "java8.al2", "java11", "java17", "java21", "dotnet8", "ruby3.2", "ruby3.3", "ruby3.4", "provided.al2",
    "provided.al2023",
})


@control("Lambda.1", title="Lambda function policies should prohibit public access", severity=Severity.CRITICAL,
         resource_type=FUNCTION, service="lambda", calls=("GetPolicy",),
         rationale="A resource policy open to everyone lets anyone invoke (or change) the function.",
         remediation="Remove the public statement, or add a condition on the source account or ARN.",
         cli="aws lambda remove-permission --function-name <fn> --statement-id <sid>")
def public_function(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("GetPolicy", not_configured=("ResourceNotFoundException",))
    if answer is None:
        return passed(f"function {doc.label} has no resource policy")
    document = answer.get("PolicyDocument")
    if not isinstance(document, dict):
        raise NotAvailable(f"the policy of function {doc.label} was not decoded in the snapshot")
    public = public_statements(document)
    sids = ", ".join(str(s.get("Sid", "?")) for s in public)
    return verdict(not public, f"function {doc.label} is not public",
                   f"the policy of function {doc.label} lets anyone call it (statement {sids})")


@control("Lambda.2", title="Lambda functions should use supported runtimes", severity=Severity.MEDIUM,
         resource_type=FUNCTION, service="lambda",
         rationale="Deprecated runtimes get no security patches.",
         remediation="Move the function to a supported runtime.",
         cli="aws lambda update-function-configuration --function-name <fn> --runtime python3.12")
def supported_runtime(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if doc.data.get("PackageType") == "Image":
        return None
    runtime = str(doc.need("Runtime"))
    return verdict(runtime in SUPPORTED_RUNTIMES, f"function {doc.label} runs on {runtime}",
                   f"function {doc.label} runs on deprecated runtime {runtime}")


@control("Lambda.5", title="VPC Lambda functions should operate in multiple Availability Zones",
         severity=Severity.MEDIUM, resource_type=FUNCTION, service="lambda",
         rationale="A VPC function in one Availability Zone goes down with it.",
         remediation="Configure subnets in at least two Availability Zones.",
         cli="aws lambda update-function-configuration --function-name <fn> --vpc-config SubnetIds=<a>,<b>,...")
def multi_az(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    subnets = (doc.data.get("VpcConfig") or {}).get("SubnetIds") or []
    if not subnets:
        return None
    why = f"the zones of {doc.label}"
    zones = {str(inv.require_id("AwsEc2Subnet", "SubnetId", s, why).data.get("AvailabilityZone")) for s in subnets}
    return verdict(len(zones) >= 2, f"function {doc.label} runs in {len(zones)} Availability Zones",
                   f"function {doc.label} runs in one Availability Zone ({', '.join(zones)})")


@control("CW.Lambda.1", title="Lambda environment variables should not hold plaintext secrets", severity=Severity.HIGH,
         resource_type=FUNCTION, service="lambda",
         rationale="Environment variables are shown to anyone with lambda:GetFunctionConfiguration.",
         remediation="Read the secret from Secrets Manager at runtime; remove it from the environment and rotate it.",
         cli="aws lambda update-function-configuration --function-name <fn> --environment Variables={...}")
def environment_secrets(doc: ResourceDoc, inv: Inventory) -> Verdict:
    variables = (doc.data.get("Environment") or {}).get("Variables") or {}
    secret: list[str] = []
    for name, found in variables.items():
        if not isinstance(found, dict) or "looks_secret" not in found:
            raise NotAvailable(f"the plaintext-secret verdict of variable {name} of {doc.label} is not in the snapshot")
        if found["looks_secret"]:
            secret.append(str(name))
    return verdict(not secret, f"no environment variable of {doc.label} looks like a secret",
                   f"function {doc.label} holds secrets in environment variables {', '.join(sorted(secret))}")


@control("CW.Lambda.2", title="Lambda function URLs should require IAM authentication", severity=Severity.HIGH,
         resource_type=FUNCTION, service="lambda", calls=("GetFunctionUrlConfig",),
         rationale="A function URL with AuthType NONE can be called by anyone on the internet.",
         remediation="Set the function URL's AuthType to AWS_IAM, or delete the URL.",
         cli="aws lambda update-function-url-config --function-name <fn> --auth-type AWS_IAM")
def function_url_auth(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    answer = doc.call("GetFunctionUrlConfig", not_configured=("ResourceNotFoundException",))
    if answer is None:
        return None
    auth = answer.get("AuthType")
    return verdict(auth == "AWS_IAM", f"the URL of function {doc.label} requires IAM authentication",
                   f"the URL of function {doc.label} has AuthType {auth}")
