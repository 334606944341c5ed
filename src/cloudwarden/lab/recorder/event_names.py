"""CloudTrail's ``eventName`` where it differs from the API operation botocore names.

CloudTrail logs the name of the operation as the service implements it, which for a few services is
not the public API name: Lambda logs ``UpdateFunctionCode`` as ``UpdateFunctionCode20150331v2`` (the
internal, versioned operation), S3 logs ``PutPublicAccessBlock`` as ``PutBucketPublicAccessBlock`` and
S3 Control's account-level ``PutPublicAccessBlock`` as ``PutAccountPublicAccessBlock``. Detection
rules match on the logged name, so the lab must write it. There is no machine-readable source for
these names (botocore's models carry the public names), so this is a hand-kept table.

Sources, checked entry by entry:

* Lambda: the "Lambda management events in CloudTrail" list of the Lambda developer guide (which
  names every event whose name differs), the versioned operation names of Lambda's service model
  (``GetFunction20150331v2``, ``ListFunctions20150331``, ``GetPolicy20150331v2``,
  ``AddLayerVersionPermission20181031``...), and real logs (Stratus Red Team's detonation logs have
  ``AddPermission20150331v2``, ``UpdateFunctionCode20150331v2``,
  ``UpdateFunctionConfiguration20150331v2``). Function URL operations (``CreateFunctionUrlConfig``,
  ``UpdateFunctionUrlConfig``...) keep their names, as the guide lists and SigmaHQ's
  ``aws_lambda_function_url`` rule expects; data events (``Invoke``) keep theirs.
* S3 and S3 Control: Amazon S3's list of CloudTrail events (bucket-level public access block,
  lifecycle and notification names, ``ListObjectsV2`` logged as ``ListObjects``; the account-level
  public access block as ``Put/Get/DeleteAccountPublicAccessBlock``).
* CloudFront and Route 53 need no entry: botocore's CloudFront model keeps the versioned wire names
  (``UpdateDistribution2020_05_31``) apart from its operation names, and current CloudTrail logs the
  unversioned name (``UpdateDistribution``), which is what the recorder resolves; Route 53's names
  are the API's.

Keys are ``(botocore service name, API operation)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_LAMBDA: dict[str, str] = {
    "AddLayerVersionPermission": "AddLayerVersionPermission20181031",
    "AddPermission": "AddPermission20150331v2",
    "CreateAlias": "CreateAlias20150331",
    "CreateEventSourceMapping": "CreateEventSourceMapping20150331",
    "CreateFunction": "CreateFunction20150331",
    "DeleteAlias": "DeleteAlias20150331",
    "DeleteEventSourceMapping": "DeleteEventSourceMapping20150331",
    "DeleteFunction": "DeleteFunction20150331",
    "DeleteFunctionConcurrency": "DeleteFunctionConcurrency20171031",
    "DeleteLayerVersion": "DeleteLayerVersion20181031",
    "GetAccountSettings": "GetAccountSettings20160819",
    "GetAlias": "GetAlias20150331",
    "GetEventSourceMapping": "GetEventSourceMapping20150331",
    "GetFunction": "GetFunction20150331v2",
    "GetFunctionConfiguration": "GetFunctionConfiguration20150331v2",
    "GetLayerVersion": "GetLayerVersion20181031",
    "GetLayerVersionByArn": "GetLayerVersionByArn20181031",
    "GetLayerVersionPolicy": "GetLayerVersionPolicy20181031",
    "GetPolicy": "GetPolicy20150331v2",
    "ListAliases": "ListAliases20150331",
    "ListEventSourceMappings": "ListEventSourceMappings20150331",
    "ListFunctions": "ListFunctions20150331",
    "ListLayerVersions": "ListLayerVersions20181031",
    "ListLayers": "ListLayers20181031",
    "ListTags": "ListTags20170331",
    "ListVersionsByFunction": "ListVersionsByFunction20150331",
    "PublishLayerVersion": "PublishLayerVersion20181031",
    "PublishVersion": "PublishVersion20150331",
    "PutFunctionConcurrency": "PutFunctionConcurrency20171031",
    "RemoveLayerVersionPermission": "RemoveLayerVersionPermission20181031",
    "RemovePermission": "RemovePermission20150331v2",
    "TagResource": "TagResource20170331v2",
    "UntagResource": "UntagResource20170331v2",
    "UpdateAlias": "UpdateAlias20150331",
    "UpdateEventSourceMapping": "UpdateEventSourceMapping20150331",
    "UpdateFunctionCode": "UpdateFunctionCode20150331v2",
    "UpdateFunctionConfiguration": "UpdateFunctionConfiguration20150331v2",
}

_S3: dict[str, str] = {
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "DeleteBucketPublicAccessBlock",
    "PutBucketLifecycleConfiguration": "PutBucketLifecycle",
    "GetBucketLifecycleConfiguration": "GetBucketLifecycle",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "ListObjectsV2": "ListObjects",
}

_S3_CONTROL: dict[str, str] = {
    "PutPublicAccessBlock": "PutAccountPublicAccessBlock",
    "GetPublicAccessBlock": "GetAccountPublicAccessBlock",
    "DeletePublicAccessBlock": "DeleteAccountPublicAccessBlock",
}

EVENT_NAMES: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        **{("lambda", op): name for op, name in _LAMBDA.items()},
        **{("s3", op): name for op, name in _S3.items()},
        **{("s3control", op): name for op, name in _S3_CONTROL.items()},
    }
)


def event_name_for(service: str, operation: str) -> str:
    """The ``eventName`` CloudTrail logs for ``operation`` of botocore's ``service``."""
    return EVENT_NAMES.get((service, operation), operation)
