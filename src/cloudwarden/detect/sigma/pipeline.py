"""The pySigma processing pipeline that adapts Sigma rules for AWS CloudTrail to our ``cloudtrail`` table.

Two jobs, as two ordered pipeline items:

1. Reject a rule whose logsource is not ``product: aws, service: cloudtrail``: our table holds CloudTrail
   only, so such a rule is reported as unsupported (naming its logsource), never run against the wrong data.
2. Rename every field the rule names (and every ``|fieldref`` target) from CloudTrail's spelling to a
   *column reference* the backend turns into SQL:

   * a top-level field becomes its column, through the one table in :mod:`cloudwarden.detect.table`
     (``eventName`` -> ``event_name``, ``userIdentity.arn`` -> ``identity_arn``);
   * anything under a JSON column keeps its path after the column (``requestParameters.bucketName`` ->
     ``request_parameters.bucketName``), and the backend's dialect spells the JSON extraction;
   * a few fields have no column of their own and are derived exactly from columns that hold them
     (:data:`DERIVED_FIELDS`, referenced as ``@name``);
   * any other field fails the rule with a reason saying which field and what the table holds.

The mapping is a pySigma transformation (not a pre-pass of our own) so rule conditions, ``|fieldref``
values and pipeline tracking all see the same names, exactly as other pySigma backends work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import FieldMappingTransformationBase, PreprocessingTransformation
from sigma.rule import SigmaRule

from cloudwarden.detect.table import FIELD_COLUMNS, JSON_FIELDS

PRODUCT: Final = "aws"
SERVICE: Final = "cloudtrail"
DERIVED_PREFIX: Final = "@"

# Fields without a column of their own, as portable SQL over the table's columns.
#
# ``status``: SigmaHQ rules (e.g. "AWS SAML Provider Deletion Activity") say ``status: success``.
# CloudTrail has no such field; a call failed exactly when its record carries ``errorCode`` (API calls)
# or ``errorMessage`` without a code (console sign-in failures), so the value is derived from those.
#
# ``userIdentity.userName`` and ``...sessionIssuer.userName`` share the ``identity_user_name`` column
# (the contract fills it from the first, else the second). CloudTrail writes a session issuer only for
# sessions (assumed roles, federation), which carry no ``userName`` of their own, so the issuer's ARN
# tells the two apart exactly.
DERIVED_FIELDS: Final[dict[str, str]] = {
    "status": "(CASE WHEN error_code IS NULL AND error_message IS NULL THEN 'success' ELSE 'failure' END)",
    "userIdentity.userName": "(CASE WHEN session_issuer_arn IS NULL THEN identity_user_name END)",
    "userIdentity.sessionContext.sessionIssuer.userName": (
        "(CASE WHEN session_issuer_arn IS NOT NULL THEN identity_user_name END)"
    ),
}


def column_reference(field: str) -> str | None:
    """The column reference for CloudTrail field ``field``, or None when the table does not hold it."""
    if field in DERIVED_FIELDS:
        return DERIVED_PREFIX + field
    if field in FIELD_COLUMNS:
        return FIELD_COLUMNS[field]
    head, dot, rest = field.partition(".")
    if head in JSON_FIELDS and dot and rest and all(rest.split(".")):
        return f"{JSON_FIELDS[head]}.{rest}"
    return None


def _unknown_field(field: str) -> str:
    top = sorted(k for k in FIELD_COLUMNS if k not in JSON_FIELDS and k not in DERIVED_FIELDS)
    return (
        f"field {field!r} is not in the normalised cloudtrail table (it holds the top-level CloudTrail fields "
        f"{', '.join(top)}, the derived fields "
        f"{', '.join(sorted(DERIVED_FIELDS))}, and any path under {', '.join(JSON_FIELDS)})"
    )


@dataclass
class CloudTrailFieldMapping(FieldMappingTransformationBase):
    """Rename CloudTrail field names to column references; an unknown field fails the rule with the reason."""

    def apply_field_name(self, field: str | None) -> str | None:
        if field is None:  # a keyword (field-less) search: the backend reports it
            return None
        mapped = column_reference(field)
        if mapped is None:
            raise SigmaTransformationError(_unknown_field(field))
        return mapped

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        # A rule's ``fields`` list only suggests what to display: unknown names there must not fail the rule.
        listed, rule.fields = list(rule.fields), []
        super().apply(rule)
        rule.fields = [column_reference(name) or name for name in listed]


@dataclass
class UnsupportedLogsource(PreprocessingTransformation):
    """Fail a rule written for another log source, naming the logsource it asks for."""

    def apply(self, rule: SigmaRule | SigmaCorrelationRule) -> None:
        if isinstance(rule, SigmaRule):
            source = rule.logsource
            wanted = ", ".join(
                f"{key}: {value}"
                for key, value in (("product", source.product), ("service", source.service),
                                   ("category", source.category))
                if value
            )
        else:
            wanted = "a correlation"
        raise SigmaTransformationError(
            f"logsource ({wanted or 'none'}) is not product: {PRODUCT}, service: {SERVICE}; "
            "only CloudTrail rules run on the cloudtrail table",
            source=rule.source,
        )


def cloudtrail_pipeline() -> ProcessingPipeline:
    """A fresh pipeline (pySigma pipelines keep per-run state, so each backend gets its own)."""
    cloudtrail = LogsourceCondition(product=PRODUCT, service=SERVICE)
    return ProcessingPipeline(
        name="cloudwarden CloudTrail",
        priority=20,
        items=[
            ProcessingItem(
                identifier="cloudwarden_cloudtrail_logsource",
                transformation=UnsupportedLogsource(),
                rule_conditions=[cloudtrail],
                rule_condition_negation=True,
            ),
            ProcessingItem(
                identifier="cloudwarden_cloudtrail_fields",
                transformation=CloudTrailFieldMapping(),
                rule_conditions=[LogsourceCondition(product=PRODUCT, service=SERVICE)],
            ),
        ],
    )
