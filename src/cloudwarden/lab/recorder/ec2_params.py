"""EC2's ``requestParameters`` and ``responseElements`` in the shapes CloudTrail writes for EC2.

CloudTrail does not log EC2 calls in the SDK's shape but in EC2's own XML-derived one, and rules read
that shape (``requestParameters.ipPermissions.items[].ipRanges.items[].cidrIp``,
``createVolumePermission.add.items[].userId``, ``instancesSet.items[].imageId``...). The rules here
were taken from real CloudTrail records of the same calls (the Stratus Red Team detonation logs and
published CloudTrail samples):

* names are EC2's XML names (the model's ``locationName``, else the member name, in lowerCamelCase);
* every list is an object ``{"items": [...]}``; a list of plain values becomes items of one-key
  objects (``InstanceId.1`` -> ``instancesSet: {items: [{instanceId: ...}]}``); a list EC2 names in the
  singular takes ``Set`` (``Filter`` -> ``filterSet``, ``TagSpecification`` -> ``tagSpecificationSet``);
* numbers and booleans are typed (``fromPort: 22``, ``force: true``), user data is
  ``<sensitiveDataRemoved>``;
* a few calls are reshaped as EC2 logs them (``RunInstances`` puts ``imageId``/``minCount``/
  ``maxCount`` under ``instancesSet``, ``ModifySnapshotAttribute`` logs ``attributeType`` and
  ``createVolumePermission.add.items``, absent lists show as ``{}``...);
* calls EC2 serves from its newer stack (``CreateFlowLogs``, ``DeleteFlowLogs``, serial console and
  default-encryption switches) are logged raw: ``{"DeleteFlowLogsRequest": {"FlowLogId":
  {"content": "fl-...", "tag": 1}}}`` and ``{"DeleteFlowLogsResponse": {..., "xmlns": ...}}``.

Responses keep EC2's XML names too (``_return``, ``requestId``, ``securityGroupRuleSet.items``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

from botocore.model import Shape, StructureShape

from cloudwarden.lab.recorder.operations import member_for

SENSITIVE_REMOVED = "<sensitiveDataRemoved>"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# EC2 calls logged as the raw request/response documents of EC2's newer stack.
RAW_DOCUMENT_CALLS = frozenset(
    {
        "CreateFlowLogs",
        "DeleteFlowLogs",
        "EnableSerialConsoleAccess",
        "DisableSerialConsoleAccess",
        "EnableEbsEncryptionByDefault",
        "DisableEbsEncryptionByDefault",
    }
)

# Lists whose CloudTrail name is not ``<locationName>Set``.
_SET_NAMES = {
    "InstanceId": "instancesSet",
    "ResourceId": "resourcesSet",
    "BlockDeviceMapping": "blockDeviceMapping",
    "GroupId": "groupSet",
    "SecurityGroupId": "groupSet",
    "SecurityGroup": "groupSet",
}
# The key of one plain value in a list, where it is not the list's locationName.
_ITEM_NAMES = {"SecurityGroupId": "groupId", "SecurityGroup": "groupName", "UserGroup": "group"}
_SECRET_MEMBERS = frozenset({"userdata"})
_NS = re.compile(r"^\{([^}]*)\}")
_INT_TYPES = ("integer", "long")
_FLOAT_TYPES = ("float", "double")


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


# --- requests ----------------------------------------------------------------------------------
def request_parameters(
    operation: str, raw: dict[str, Any], form: dict[str, list[str]], shape: StructureShape | None
) -> dict[str, Any] | None:
    """``requestParameters`` of an EC2 call: ``raw`` is the unflattened form, ``form`` the flat one."""
    if operation in RAW_DOCUMENT_CALLS:
        return raw_request_document(operation, form)
    walked = walk_request(raw, shape) if raw else {}
    params = walked if isinstance(walked, dict) else {}
    shaper = _REQUEST_SHAPERS.get(operation)
    if shaper is not None:
        params = shaper(params)
    return params or None


def walk_request(value: Any, shape: Shape | None, depth: int = 0) -> Any:
    """A query-protocol value in EC2's CloudTrail shape, guided by botocore's input shape."""
    if depth > 40:
        return value
    if shape is None:
        return _untyped(value)
    if shape.metadata.get("sensitive"):
        return HIDDEN
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            found = member_for(shape, str(key))
            if found is None:
                out[_lower_camel(str(key))] = _untyped(item)
                continue
            name, member = found
            wire = str(member.serialization.get("name") or name)
            if name.lower() in _SECRET_MEMBERS:
                out[_lower_camel(wire)] = SENSITIVE_REMOVED
                continue
            if member.type_name == "blob":
                continue
            ct_name = _list_name(name, member) if member.type_name == "list" else _lower_camel(wire)
            walked = walk_request(item, member, depth + 1)
            existing = out.get(ct_name)
            if isinstance(existing, dict) and isinstance(walked, dict) and "items" in existing:
                existing["items"] = [*existing["items"], *walked.get("items", [])]
            else:
                out[ct_name] = walked
        return out
    if kind == "list":
        element: Shape = shape.member  # type: ignore[attr-defined]
        items = _list_items(value, element)
        item_name = _item_name(shape)
        walked_items = []
        for item in items:
            walked = walk_request(item, element, depth + 1)
            walked_items.append(walked if element.type_name == "structure" else {item_name: walked})
        return {"items": walked_items} if walked_items else {}
    return coerce(value, shape)


def _list_name(name: str, member: Shape) -> str:
    location = member.serialization.get("name")
    if not location:
        return _lower_camel(name)
    location = str(location)
    if location in _SET_NAMES:
        return _SET_NAMES[location]
    if location[:1].islower():
        return location
    return _lower_camel(location) + "Set"


def _item_name(shape: Shape) -> str:
    element: Shape = shape.member  # type: ignore[attr-defined]
    inner = str(element.serialization.get("name") or "")
    location = str(shape.serialization.get("name") or (inner if inner not in ("", "item", "member") else "item"))
    return _ITEM_NAMES.get(location, _lower_camel(location))


def _list_items(value: Any, element: Shape) -> list[Any]:
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if str(key).lower() in {str(element.serialization.get("name", "")).lower(), "item", "member"}:
            value = value[key]
    return value if isinstance(value, list) else [value]


def coerce(value: Any, shape: Shape) -> Any:
    """A wire string as the JSON type its shape declares (numbers and booleans); others unchanged."""
    if not isinstance(value, str):
        return value
    kind = shape.type_name
    try:
        if kind in _INT_TYPES:
            return int(value)
        if kind in _FLOAT_TYPES:
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _untyped(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _lower_camel(str(k)): SENSITIVE_REMOVED if str(k).lower() in _SECRET_MEMBERS else _untyped(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return {"items": [_untyped(v) for v in value]}
    return value


def raw_request_document(operation: str, form: dict[str, list[str]]) -> dict[str, Any]:
    """``{"<Operation>Request": {...}}`` with numbered values as ``{"content": ..., "tag": n}``."""
    body: dict[str, Any] = {}
    for key, values in form.items():
        if key in ("Action", "Version"):
            continue
        value = values[0] if values else ""
        name, dot, index = key.rpartition(".")
        if dot and index.isdigit() and "." not in name:
            entry = {"content": value, "tag": int(index)}
            existing = body.get(name)
            if existing is None:
                body[name] = entry
            else:
                body[name] = [*existing, entry] if isinstance(existing, list) else [existing, entry]
        else:
            body[key] = value
    for name, entry in body.items():
        if isinstance(entry, list):
            body[name] = sorted(entry, key=lambda e: int(e["tag"]))
    return {f"{operation}Request": body or ""}


# --- call-specific shapes ----------------------------------------------------------------------
def _security_group_rule(params: dict[str, Any]) -> dict[str, Any]:
    params.setdefault("ipPermissions", {})
    for permission in params["ipPermissions"].get("items", []):
        for name in ("groups", "ipRanges", "ipv6Ranges", "prefixListIds"):
            permission.setdefault(name, {})
    return params


def _run_instances(params: dict[str, Any]) -> dict[str, Any]:
    launch = {name: params.pop(name) for name in ("imageId", "minCount", "maxCount", "keyName") if name in params}
    if launch:
        params["instancesSet"] = {"items": [launch]}
    params.setdefault("blockDeviceMapping", {})
    params.setdefault("monitoring", {"enabled": False})
    params.setdefault("disableApiTermination", False)
    params.setdefault("disableApiStop", False)
    return params


def _permission_items(params: dict[str, Any], *, id_keys: dict[str, str]) -> list[dict[str, Any]]:
    """The grantees given as lists (``UserId.1``, ``UserGroup.1``...) as permission items."""
    items: list[dict[str, Any]] = []
    for set_name, item_key in id_keys.items():
        for entry in params.pop(set_name, {}).get("items", []):
            value = next(iter(entry.values()), None) if isinstance(entry, dict) else entry
            if value is not None:
                items.append({item_key: value})
    return items


def _add_permissions(params: dict[str, Any], attribute: str, items: list[dict[str, Any]], operation: str) -> None:
    if not items:
        return
    block = params.setdefault(attribute, {})
    existing = block.get(operation)
    block[operation] = {"items": [*(existing or {}).get("items", []), *items]}


def _modify_snapshot_attribute(params: dict[str, Any]) -> dict[str, Any]:
    params.pop("attribute", None)
    operation = str(params.pop("operationType", "add"))
    items = _permission_items(params, id_keys={"userIdSet": "userId", "userGroupSet": "group"})
    _add_permissions(params, "createVolumePermission", items, operation)
    params["attributeType"] = "CREATE_VOLUME_PERMISSION"
    return params


def _modify_image_attribute(params: dict[str, Any]) -> dict[str, Any]:
    attribute = params.pop("attribute", None)
    operation = str(params.pop("operationType", "add"))
    items = _permission_items(
        params,
        id_keys={
            "userIdSet": "userId",
            "userGroupSet": "group",
            "organizationArnSet": "organizationArn",
            "organizationalUnitArnSet": "organizationalUnitArn",
        },
    )
    _add_permissions(params, "launchPermission", items, operation)
    if "value" in params and attribute == "description":
        params["description"] = {"value": params.pop("value")}
    if attribute is None:
        attribute = next((a for a in ("launchPermission", "description", "productCodes") if a in params), None)
    if attribute is not None:
        params["attributeType"] = attribute
    return params


def _modify_instance_attribute(params: dict[str, Any]) -> dict[str, Any]:
    if "value" in params:
        params["value"] = SENSITIVE_REMOVED
    if "userData" in params:
        params["userData"] = SENSITIVE_REMOVED
    return params


def _describe_instances(params: dict[str, Any]) -> dict[str, Any]:
    params.setdefault("instancesSet", {})
    params.setdefault("filterSet", {})
    return params


_REQUEST_SHAPERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "AuthorizeSecurityGroupIngress": _security_group_rule,
    "AuthorizeSecurityGroupEgress": _security_group_rule,
    "RevokeSecurityGroupIngress": _security_group_rule,
    "RevokeSecurityGroupEgress": _security_group_rule,
    "RunInstances": _run_instances,
    "ModifySnapshotAttribute": _modify_snapshot_attribute,
    "ModifyImageAttribute": _modify_image_attribute,
    "ModifyInstanceAttribute": _modify_instance_attribute,
    "DescribeInstances": _describe_instances,
}


# --- responses ---------------------------------------------------------------------------------
def response_elements(operation: str, root: ElementTree.Element, shape: StructureShape | None) -> dict[str, Any] | None:
    """``responseElements`` of a successful EC2 call from its XML answer.

    EC2 answers a call that returns nothing in the SDK (``ModifySnapshotAttribute``...) with
    ``<return>true</return>``, which CloudTrail logs as ``_return``; moto leaves it out, so it is
    added here for such calls (they only reach this point when they succeeded).
    """
    tag = _NS.sub("", root.tag)
    if operation in RAW_DOCUMENT_CALLS:
        body = raw_response_document(root)
        document = body if isinstance(body, dict) else {}
        namespace = _NS.match(root.tag)
        if namespace:
            document["xmlns"] = namespace.group(1).rstrip("/") + "/"
        return {tag: document}
    walked = walk_response(root, shape)
    elements = walked if isinstance(walked, dict) else {}
    if shape is None or not shape.members:
        elements.setdefault("_return", True)
    return elements or None


def raw_response_document(element: ElementTree.Element) -> Any:
    """An XML element as CloudTrail logs EC2's raw documents: leaves as text (``""`` when empty,
    booleans typed), repeated children as lists, no list wrapping."""
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        return {"true": True, "false": False}.get(text, text)
    out: dict[str, Any] = {}
    for child in children:
        tag = _NS.sub("", child.tag)
        value = raw_response_document(child)
        if tag in out:
            existing = out[tag]
            out[tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[tag] = value
    return out


def walk_response(element: ElementTree.Element, shape: Shape | None, depth: int = 0) -> Any:
    """An EC2 XML element with EC2's names, lists as ``{"items": [...]}``, typed by ``shape``."""
    children = list(element)
    if depth > 40:
        return None
    if shape is not None and shape.metadata.get("sensitive"):
        return HIDDEN
    kind = shape.type_name if shape is not None else None
    if kind == "list" or (children and all(_NS.sub("", c.tag) == "item" for c in children)):
        element_shape = shape.member if shape is not None and kind == "list" else None  # type: ignore[attr-defined]
        items = [walk_response(c, element_shape, depth + 1) for c in children]
        return {"items": items} if items else {}
    if not children:
        text = (element.text or "").strip()
        if shape is None:
            return {"true": True, "false": False}.get(text, text)
        if kind == "structure":
            return text or {}
        return coerce(text, shape)
    out: dict[str, Any] = {}
    for child in children:
        tag = _NS.sub("", child.tag)
        found = member_for(shape, tag) if shape is not None else None
        member = found[1] if found is not None else None
        name = "_return" if tag == "return" else tag
        if name.lower() in _SECRET_MEMBERS:
            out[name] = SENSITIVE_REMOVED
            continue
        out[name] = walk_response(child, member, depth + 1)
    return out
