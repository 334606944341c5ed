"""IAM's own policy grammar: the checks ``CreatePolicy`` runs before it stores a policy, with IAM's exact messages.

IAM rejects a malformed document with one ``MalformedPolicyDocument`` message, chosen by the first phase that
fails, in this order:

1. syntax (JSON, element names and types)          -> ``Syntax errors in policy.``
2. version                                          -> ``Policy document must be version 2012-10-17 or greater.``
3. legacy parsing (effect case, dates, short ARNs)  -> ``The policy failed legacy parsing``
4. statement ids unique                             -> ``Statement IDs (SID) in a single policy must be unique.``
5. every statement has actions                      -> ``Policy statement must contain actions.``
6. the resource-format error remembered in phase 3  -> ``Resource x must be in ARN format or "*".``, ...
7. action prefixes                                  -> ``Actions/Conditions must be prefaced by a vendor, ...``
8. identity policies: every statement has resources -> ``Policy statement must contain resources.``
9. identity policies: no principal                  -> ``Policy document should not specify a principal.``

IAM's message for a bad IAM resource path names thirteen path starts, but IAM accepts every IAM resource type
(AWS managed policies use ``:root`` and ``role-template/``); likewise S3 resources that carry a region. The
accepted sets therefore come from the action catalog, while the messages stay IAM's.

Hand-written rather than calling moto's ``moto/iam/policy_validation.py``: that module is untyped, drives its
phases with ``assert`` inside ``except Exception`` (so ``python -O`` changes its verdicts), returns no location,
and lives in a test double we do not ship. The phase order and messages are the ones IAM returns, checked by
``tests/iam/test_grammar.py`` against the AWS-verified cases in ``shared/data/iam-policy-grammar.json``. Unlike
that module we report *where* the error is, as a JSON pointer.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any, Final, NoReturn

from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.validate.document import STRING_LIST_KEYS, Statement, Value, statements
from cloudwarden.iam.validate.model import Level, PolicyType, ValidationIssue

SYNTAX: Final = "Syntax errors in policy."
VERSION: Final = "Policy document must be version 2012-10-17 or greater."
LEGACY: Final = "The policy failed legacy parsing"
SID_UNIQUE: Final = "Statement IDs (SID) in a single policy must be unique."
NEED_ACTIONS: Final = "Policy statement must contain actions."
NEED_RESOURCES: Final = "Policy statement must contain resources."
NO_PRINCIPAL: Final = "Policy document should not specify a principal."
NEED_VENDOR: Final = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON: Final = "Actions/Condition can contain only one colon."
VENDOR_FQ: Final = "Resource vendor must be fully qualified and cannot contain regexes."

TOP_ELEMENTS: Final = frozenset({"Version", "Id", "Statement"})
VERSIONS: Final = frozenset({"2008-10-17", "2012-10-17"})
CURRENT_VERSION: Final = "2012-10-17"
STATEMENT_ELEMENTS: Final = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)
EFFECTS: Final = ("Allow", "Deny")
PRINCIPAL_KEYS: Final = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
CONDITION_OPERATORS: Final = frozenset(
    {
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
        "StringLike", "StringNotLike",
        "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
        "NumericGreaterThan", "NumericGreaterThanEquals",
        "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
        "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null",
    }
)
SET_PREFIXES: Final = ("ForAnyValue:", "ForAllValues:")
IF_EXISTS: Final = "IfExists"
PARTITIONS: Final = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f",
                               "aws-eusc"})
IAM_PATHS: Final = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
                    "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/",
                    "access-report/")
IAM_PATH_MESSAGE: Final = f'IAM resource path must either be "*" or start with {", ".join(IAM_PATHS)}.'
_VENDOR_BAD = re.compile(r"[^a-zA-Z0-9\-.]")
_MAX_EPOCH = 9223372036854775807


class _Malformed(Exception):
    """One grammar failure: IAM's message, our code for it, and where."""

    def __init__(self, code: str, message: str, pointer: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pointer = pointer


def split_operator(operator: str) -> tuple[str | None, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> ``("ForAnyValue", "StringLike", True)``; one prefix, one suffix."""
    prefix: str | None = None
    for candidate in SET_PREFIXES:
        if operator.startswith(candidate):
            prefix, operator = candidate[:-1], operator[len(candidate) :]
            break
    if_exists = operator.endswith(IF_EXISTS)
    if if_exists:
        operator = operator[: -len(IF_EXISTS)]
    return prefix, operator, if_exists


def parse_document(document: str | bytes | Any) -> tuple[Any, ValidationIssue | None]:
    """``(parsed, None)``, or ``(None, issue)`` when text is not JSON (the issue's message is IAM's)."""
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            return None, ValidationIssue("POLICY_SYNTAX_ERROR", Level.ERROR, SYNTAX, "")
    if isinstance(document, str):
        try:
            return json.loads(document, parse_constant=_reject_constant), None
        except json.JSONDecodeError as exc:
            return None, ValidationIssue(
                "POLICY_SYNTAX_ERROR", Level.ERROR, SYNTAX, "", line=exc.lineno, column=exc.colno
            )
        except ValueError:  # NaN or Infinity: Python's extension, not JSON
            return None, ValidationIssue("POLICY_SYNTAX_ERROR", Level.ERROR, SYNTAX, "")
    return document, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_grammar(
    document: str | bytes | Any, policy_type: PolicyType = PolicyType.IDENTITY_POLICY
) -> ValidationIssue | None:
    """IAM's verdict on ``document`` (JSON text or an already-parsed object): None when IAM would accept it."""
    parsed, issue = parse_document(document)
    if issue is not None:
        return issue
    try:
        _Grammar(parsed, policy_type).run()
    except _Malformed as bad:
        return ValidationIssue(bad.code, Level.ERROR, bad.message, bad.pointer)
    return None


class _Grammar:
    def __init__(self, document: Any, policy_type: PolicyType) -> None:
        self.document = document
        self.policy_type = policy_type
        self.statements: list[Statement] = []
        # Phase 3 remembers the resource-format error IAM reports later, in phase 6 (the last one found wins).
        self.resource_error: _Malformed | None = None

    def run(self) -> None:
        self._syntax()
        self._version()
        self._legacy()
        self._sid_unique()
        self._actions_present()
        if self.resource_error is not None:
            raise self.resource_error
        for key in ("Action", "NotAction"):
            for stmt in self.statements:
                for value in stmt.values(key):
                    if value.text is not None:
                        _action_prefix(value)
        if self.policy_type is PolicyType.IDENTITY_POLICY:
            self._resources_present()
            for stmt in self.statements:
                for key in ("Principal", "NotPrincipal"):
                    if key in stmt.raw:
                        raise _Malformed("PRINCIPAL_NOT_ALLOWED", NO_PRINCIPAL, stmt.at(key))

    # -- phase 1 --------------------------------------------------------------------------------------------------
    def _syntax(self) -> None:
        doc = self.document
        if not isinstance(doc, dict):
            raise _Malformed("POLICY_SYNTAX_ERROR", SYNTAX, "")
        for key in doc:
            if key not in TOP_ELEMENTS:
                _syntax_error(f"/{_esc(key)}")
        if "Version" in doc and doc["Version"] not in VERSIONS:
            _syntax_error("/Version")
        if "Id" in doc and not isinstance(doc["Id"], str):
            _syntax_error("/Id")
        raw = doc.get("Statement")
        if not isinstance(raw, dict | list) or not raw:
            _syntax_error("/Statement" if "Statement" in doc else "")
        items = [raw] if isinstance(raw, dict) else raw
        for index, item in enumerate(items):
            ptr = "/Statement" if isinstance(raw, dict) else f"/Statement/{index}"
            if not isinstance(item, dict):
                _syntax_error(ptr)
        self.statements = statements(doc)
        for stmt in self.statements:
            _statement_syntax(stmt)

    # -- phase 2 --------------------------------------------------------------------------------------------------
    def _version(self) -> None:
        if self.document.get("Version") != CURRENT_VERSION:
            where = "/Version" if "Version" in self.document else ""
            raise _Malformed("POLICY_VERSION", VERSION, where)

    # -- phase 3 --------------------------------------------------------------------------------------------------
    def _legacy(self) -> None:
        for stmt in self.statements:
            if stmt.raw["Effect"] not in EFFECTS:  # case-sensitive here, unlike phase 1
                raise _Malformed("LEGACY_PARSE_FAILED", LEGACY, stmt.at("Effect"))
            for operator, _key, value, ptr in stmt.conditions():
                if split_operator(operator)[1].startswith("Date"):
                    for item in value if isinstance(value, list) else [value]:
                        if not _legacy_date_ok(item):
                            raise _Malformed("LEGACY_PARSE_FAILED", LEGACY, ptr)
        for key in ("Resource", "NotResource"):
            for stmt in self.statements:
                if key not in stmt.raw:
                    continue
                values = stmt.values(key)
                ordered = values if isinstance(stmt.raw[key], str) else sorted(
                    (v for v in values if v.text), key=lambda v: v.text or "", reverse=True
                )
                for value in ordered:
                    error = _resource_format_error(value)
                    if error is not None:
                        self.resource_error = error
                if self.resource_error is None:
                    for value in values:
                        if value.text and not _legacy_resource_ok(value.text):
                            raise _Malformed("LEGACY_PARSE_FAILED", LEGACY, value.pointer)

    # -- phases 4, 5, 8 -------------------------------------------------------------------------------------------
    def _sid_unique(self) -> None:
        seen: set[str] = set()
        for stmt in self.statements:
            sid = stmt.sid
            if sid:
                if sid in seen:
                    raise _Malformed("DUPLICATE_SID", SID_UNIQUE, stmt.at("Sid"))
                seen.add(sid)

    def _actions_present(self) -> None:
        for stmt in self.statements:
            if not _present(stmt, "Action", "NotAction"):
                raise _Malformed("MISSING_ACTION", NEED_ACTIONS, stmt.pointer)

    def _resources_present(self) -> None:
        for stmt in self.statements:
            if not _present(stmt, "Resource", "NotResource"):
                raise _Malformed("MISSING_RESOURCE", NEED_RESOURCES, stmt.pointer)


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _syntax_error(pointer: str) -> NoReturn:
    raise _Malformed("POLICY_SYNTAX_ERROR", SYNTAX, pointer)


def _statement_syntax(stmt: Statement) -> None:
    raw = stmt.raw
    for key in raw:
        if key not in STATEMENT_ELEMENTS:
            _syntax_error(stmt.at(key))
    if "Resource" in raw and "NotResource" in raw:
        _syntax_error(stmt.at("NotResource"))
    if "Action" in raw and "NotAction" in raw:
        _syntax_error(stmt.at("NotAction"))
    if "Principal" in raw and "NotPrincipal" in raw:
        _syntax_error(stmt.at("NotPrincipal"))
    effect = raw.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        _syntax_error(stmt.at("Effect") if "Effect" in raw else stmt.pointer)
    for key in STRING_LIST_KEYS:
        if key in raw:
            value = raw[key]
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if item is not None and not isinstance(item, str):
                        _syntax_error(stmt.at(key, index))
            elif not isinstance(value, str):
                _syntax_error(stmt.at(key))
    for key in ("Principal", "NotPrincipal"):
        if key in raw:
            _principal_syntax(stmt, key)
    if "Condition" in raw:
        _condition_syntax(stmt)
    if "Sid" in raw and not isinstance(raw["Sid"], str):
        _syntax_error(stmt.at("Sid"))


def _principal_syntax(stmt: Statement, key: str) -> None:
    value = stmt.raw[key]
    if value == "*":
        return
    if not isinstance(value, dict) or not value:
        _syntax_error(stmt.at(key))
    for kind, ids in value.items():
        if kind not in PRINCIPAL_KEYS:
            _syntax_error(stmt.at(key, kind))
        items = ids if isinstance(ids, list) else [ids]
        for index, item in enumerate(items):
            if not isinstance(item, str):
                _syntax_error(stmt.at(key, kind, index) if isinstance(ids, list) else stmt.at(key, kind))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _condition_syntax(stmt: Statement) -> None:
    block = stmt.raw["Condition"]
    if not isinstance(block, dict):
        _syntax_error(stmt.at("Condition"))
    for operator, entries in block.items():
        if not isinstance(entries, dict):
            _syntax_error(stmt.at("Condition", operator))
        for key, value in entries.items():
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if not _is_scalar(item):
                        _syntax_error(stmt.at("Condition", operator, key, index))
            elif not _is_scalar(value):
                _syntax_error(stmt.at("Condition", operator, key))
        if split_operator(operator)[1] not in CONDITION_OPERATORS and entries:
            _syntax_error(stmt.at("Condition", operator))


def _present(stmt: Statement, key: str, not_key: str) -> bool:
    for name in (key, not_key):
        if name in stmt.raw:
            value = stmt.raw[name]
            return not (isinstance(value, list) and not value)
    return False


def _action_prefix(value: Value) -> None:
    action = value.text or ""
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        raise _Malformed("ACTION_WITHOUT_VENDOR", NEED_VENDOR, value.pointer)
    if len(parts) > 2:
        raise _Malformed("ACTION_TOO_MANY_COLONS", ONE_COLON, value.pointer)
    vendor = parts[0]
    if vendor != "*" and _VENDOR_BAD.search(vendor):
        raise _Malformed("INVALID_ACTION_VENDOR", f"Vendor {vendor} is not valid", value.pointer)


# -- resources ------------------------------------------------------------------------------------------------------
def _resource_format_error(value: Value) -> _Malformed | None:
    """The error IAM reports for one ``Resource``/``NotResource`` entry, or None when its format is fine."""
    resource = value.text or ""
    ptr = value.pointer
    if resource == "*":
        return None
    _arn, colon, rest = resource.partition(":")
    if not colon:
        return _Malformed("RESOURCE_NOT_ARN", f'Resource {resource} must be in ARN format or "*".', ptr)
    partition, colon, rest = rest.partition(":")
    if partition != "*" and partition not in PARTITIONS:
        parts = rest.split(":")
        fields = [
            parts[0] if parts[0] != "" or len(parts) > 1 else "*",
            parts[1] if len(parts) > 1 else "*",
            parts[2] if len(parts) > 2 else "*",
            ":".join(parts[3:]) if len(parts) > 3 else "*",
        ]
        shown = ":".join(["arn", partition, *fields])
        return _Malformed("INVALID_PARTITION", f'Partition "{partition}" is not valid for resource "{shown}".', ptr)
    if not colon:
        return _Malformed("RESOURCE_VENDOR_NOT_QUALIFIED", VENDOR_FQ, ptr)
    service, _, after_service = rest.partition(":")
    _region, _, after_region = after_service.partition(":")
    _account, _, resource_id = after_region.partition(":")
    if after_service and not after_service.startswith(":"):  # a region is given
        if service == "iam":
            return _Malformed("RESOURCE_REGION_NOT_ALLOWED",
                              f"IAM resource {resource} cannot contain region information.", ptr)
        if service == "s3" and not resource_id.startswith(_s3_regional_prefixes()):
            return _Malformed("RESOURCE_REGION_NOT_ALLOWED",
                              f"Resource {resource} can not contain region information.", ptr)
    if service == "iam" and resource_id != "*" and not resource_id.startswith(_iam_path_prefixes()):
        return _Malformed("INVALID_IAM_RESOURCE_PATH", IAM_PATH_MESSAGE, ptr)
    return None


@cache
def _iam_path_prefixes() -> tuple[str, ...]:
    """IAM's documented path starts, plus every IAM resource type the catalog knows and the account root.

    IAM accepts more than the list its message names (AWS managed policies use ``:root`` and
    ``role-template/``), so the message stays IAM's while the accepted set follows the catalog.
    """
    return tuple(dict.fromkeys((*IAM_PATHS, "root", *_catalog_prefixes("iam", regional=False))))


@cache
def _s3_regional_prefixes() -> tuple[str, ...]:
    """S3 resource types whose ARN has a region (access points, access grants, jobs, Storage Lens...)."""
    return tuple(dict.fromkeys(("accesspoint/", *_catalog_prefixes("s3", regional=True))))


def _catalog_prefixes(service: str, *, regional: bool) -> list[str]:
    prefixes: list[str] = []
    for template in get_catalog().resource_types(service).values():
        fields = template.split(":", 5)
        if len(fields) < 6 or (regional and not fields[3]):
            continue
        literal = fields[5].split("${", 1)[0]
        if literal:
            prefixes.append(literal)
    return prefixes


def _legacy_resource_ok(resource: str) -> bool:
    if resource == "*":
        return True
    if resource.count(":") < 5 and "::" in resource:
        return False
    parts = resource.split(":")
    return len(parts) > 2 and parts[2] != ""


# -- dates ----------------------------------------------------------------------------------------------------------
def _legacy_date_ok(value: Any) -> bool:
    """IAM's legacy date parser: an epoch number, or a lenient ISO 8601 date-time."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= _MAX_EPOCH
    if not isinstance(value, str):
        return False
    text = value.lower()
    try:
        if "t" in text or "-" in text:
            return _iso_ok(text)
        return 0 <= int(text) <= _MAX_EPOCH
    except ValueError:
        return False


def _in(text: str, low: int, high: int) -> bool:
    return low <= int(text) <= high  # int() raises ValueError for junk, caught by the caller


def _iso_ok(text: str) -> bool:
    date, _, time = text.partition("t")
    negative = date.startswith("-")
    parts = (date[1:] if negative else date).split("-")
    year = ("-" if negative else "") + parts[0]
    if len(parts) > 3 or not _in(year, -292275054, 292278993):
        return False
    if len(parts) > 1 and not _in(parts[1], 1, 12):
        return False
    if len(parts) > 2 and not _in(parts[2], 1, 31):
        return False
    pieces = time.split(":")
    if pieces[0] != "" and not _in(pieces[0], 0, 23):
        return False
    if len(pieces) > 1 and not _in(pieces[1], 0, 59):
        return False
    if len(pieces) > 2:
        seconds = pieces[2]
        if "z" in seconds:
            seconds, _, tail = seconds.partition("z")
            if tail:
                return False
        elif "+" in seconds:
            seconds, _, zone = seconds.partition("+")
            hours, colon, minutes = zone.partition(":")
            if len(hours) != 2 or not _in(hours, 0, 23):
                return False
            if colon and (len(minutes) != 2 or not _in(minutes, 0, 59)):
                return False
        whole, dot, fraction = seconds.partition(".")
        if not _in(whole, 0, 59):
            return False
        if dot and not _in(fraction, 0, 999999999):
            return False
    return True
