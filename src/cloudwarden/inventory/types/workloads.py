"""Workload services: RDS (instances, clusters, snapshots and who may restore them), Lambda (environment
values replaced by verdicts), ECR, SNS, SQS, EFS, ELBv2 and WAFv2 (regional web ACLs)."""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.descriptor import Descriptor, Detail, Item, field_of
from cloudwarden.inventory.document import decode_policy, tags_of
from cloudwarden.inventory.secrets_scan import environment_verdicts


def _tag_list(field_name: str) -> Any:
    return lambda data, _calls: tags_of(data.get(field_name))


def _call_tags(operation: str, path: tuple[str, ...]) -> Any:
    def tags(_data: Item, calls: dict[str, Any]) -> dict[str, str]:
        found: Any = calls.get(operation) or {}
        for step in path:
            if isinstance(found, list):
                found = found[0] if found else {}
            found = found.get(step) if isinstance(found, dict) else None
        return tags_of(found)

    return tags


def _decode_attribute(answer: Item) -> Item:
    """SNS/SQS ``Attributes.Policy`` (a JSON string) decoded into ``PolicyDocument`` beside it."""
    policy = (answer.get("Attributes") or {}).get("Policy")
    if policy is not None:
        answer["PolicyDocument"] = decode_policy(policy)
    return answer


RDS_INSTANCE = Descriptor(
    type="AwsRdsDbInstance", service="rds", list_operation="DescribeDBInstances", items="DBInstances[]",
    arn=lambda i, a, r: str(i["DBInstanceArn"]), name=field_of("DBInstanceIdentifier"), tags=_tag_list("TagList"),
)
RDS_CLUSTER = Descriptor(
    type="AwsRdsDbCluster", service="rds", list_operation="DescribeDBClusters", items="DBClusters[]",
    arn=lambda i, a, r: str(i["DBClusterArn"]), name=field_of("DBClusterIdentifier"), tags=_tag_list("TagList"),
)
RDS_SNAPSHOT = Descriptor(
    type="AwsRdsDbSnapshot", service="rds", list_operation="DescribeDBSnapshots", items="DBSnapshots[]",
    arn=lambda i, a, r: str(i["DBSnapshotArn"]), name=field_of("DBSnapshotIdentifier"), tags=_tag_list("TagList"),
    details=(Detail("DescribeDBSnapshotAttributes", lambda i: {"DBSnapshotIdentifier": i["DBSnapshotIdentifier"]}),),
)
RDS_CLUSTER_SNAPSHOT = Descriptor(
    type="AwsRdsDbClusterSnapshot", service="rds", list_operation="DescribeDBClusterSnapshots",
    items="DBClusterSnapshots[]", arn=lambda i, a, r: str(i["DBClusterSnapshotArn"]),
    name=field_of("DBClusterSnapshotIdentifier"), tags=_tag_list("TagList"),
    details=(
        Detail("DescribeDBClusterSnapshotAttributes",
               lambda i: {"DBClusterSnapshotIdentifier": i["DBClusterSnapshotIdentifier"]}),
    ),
)


def lambda_without_secrets(item: Item) -> Item:
    """The ListFunctions item with ``Environment.Variables`` values replaced by verdicts per name."""
    environment = item.get("Environment")
    if not isinstance(environment, dict) or not isinstance(environment.get("Variables"), dict):
        return item
    return {**item, "Environment": {**environment, "Variables": environment_verdicts(environment["Variables"])}}


LAMBDA_FUNCTION = Descriptor(
    type="AwsLambdaFunction", service="lambda", list_operation="ListFunctions", items="Functions[]",
    arn=lambda i, a, r: str(i["FunctionArn"]), name=field_of("FunctionName"), prepare=lambda_without_secrets,
    details=(
        Detail("GetPolicy", lambda i: {"FunctionName": i["FunctionName"]}, decode="Policy"),
        Detail("GetFunctionUrlConfig", lambda i: {"FunctionName": i["FunctionName"]}),
        Detail("ListTags", lambda i: {"Resource": i["FunctionArn"]}),
    ),
    tags=_call_tags("ListTags", ("Tags",)),
)

ECR_REPOSITORY = Descriptor(
    type="AwsEcrRepository", service="ecr", list_operation="DescribeRepositories", items="repositories[]",
    arn=lambda i, a, r: str(i["repositoryArn"]), name=field_of("repositoryName"),
    details=(
        Detail("GetRepositoryPolicy", lambda i: {"repositoryName": i["repositoryName"]}, decode="policyText"),
        Detail("GetLifecyclePolicy", lambda i: {"repositoryName": i["repositoryName"]}),
        Detail("ListTagsForResource", lambda i: {"resourceArn": i["repositoryArn"]}),
    ),
    tags=_call_tags("ListTagsForResource", ("tags",)),
)

SNS_TOPIC = Descriptor(
    type="AwsSnsTopic", service="sns", list_operation="ListTopics", items="Topics[]",
    arn=lambda i, a, r: str(i["TopicArn"]), name=lambda i: str(i["TopicArn"]).rsplit(":", 1)[-1],
    details=(
        Detail("GetTopicAttributes", lambda i: {"TopicArn": i["TopicArn"]}, transform=_decode_attribute),
        Detail("ListSubscriptionsByTopic", lambda i: {"TopicArn": i["TopicArn"]}),
        Detail("ListTagsForResource", lambda i: {"ResourceArn": i["TopicArn"]}),
    ),
    tags=_call_tags("ListTagsForResource", ("Tags",)),
)


def queue_arn(item: Item, account: str, region: str) -> str:
    parts = str(item["QueueUrl"]).rstrip("/").split("/")
    return f"arn:aws:sqs:{region}:{parts[-2] if len(parts) >= 2 else account}:{parts[-1]}"


SQS_QUEUE = Descriptor(
    type="AwsSqsQueue", service="sqs", list_operation="ListQueues", items="QueueUrls[]", item_key="QueueUrl",
    arn=queue_arn, name=lambda i: str(i["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1],
    details=(
        Detail("GetQueueAttributes", lambda i: {"QueueUrl": i["QueueUrl"], "AttributeNames": ["All"]},
               transform=_decode_attribute),
        Detail("ListQueueTags", lambda i: {"QueueUrl": i["QueueUrl"]}),
    ),
    tags=_call_tags("ListQueueTags", ("Tags",)),
)

EFS_FILE_SYSTEM = Descriptor(
    type="AwsEfsFileSystem", service="efs", list_operation="DescribeFileSystems", items="FileSystems[]",
    arn=lambda i, a, r: str(i.get("FileSystemArn") or f"arn:aws:elasticfilesystem:{r}:{a}:file-system/"
                                                     f"{i['FileSystemId']}"),
    name=lambda i: str(i.get("Name") or i["FileSystemId"]),
    details=(
        Detail("DescribeFileSystemPolicy", lambda i: {"FileSystemId": i["FileSystemId"]}, decode="Policy"),
        Detail("DescribeBackupPolicy", lambda i: {"FileSystemId": i["FileSystemId"]}),
    ),
)

ELBV2_LOAD_BALANCER = Descriptor(
    type="AwsElbv2LoadBalancer", service="elbv2", list_operation="DescribeLoadBalancers", items="LoadBalancers[]",
    arn=lambda i, a, r: str(i["LoadBalancerArn"]), name=field_of("LoadBalancerName"),
    details=(
        Detail("DescribeLoadBalancerAttributes", lambda i: {"LoadBalancerArn": i["LoadBalancerArn"]}),
        Detail("DescribeListeners", lambda i: {"LoadBalancerArn": i["LoadBalancerArn"]}),
        Detail("DescribeTags", lambda i: {"ResourceArns": [i["LoadBalancerArn"]]}),
    ),
    tags=_call_tags("DescribeTags", ("TagDescriptions", "Tags")),
)

WAFV2_WEB_ACL = Descriptor(
    type="AwsWafv2WebAcl", service="wafv2", list_operation="ListWebACLs", items="WebACLs[]",
    list_params={"Scope": "REGIONAL"},
    arn=lambda i, a, r: str(i["ARN"]), name=field_of("Name"),
    details=(
        Detail("GetWebACL", lambda i: {"Name": i["Name"], "Id": i["Id"], "Scope": "REGIONAL"}),
        Detail("GetLoggingConfiguration", lambda i: {"ResourceArn": i["ARN"]}),
        Detail("ListTagsForResource", lambda i: {"ResourceARN": i["ARN"]}),
    ),
    tags=_call_tags("ListTagsForResource", ("TagInfoForResource", "TagList")),
)

DESCRIPTORS: tuple[Descriptor, ...] = (
    RDS_INSTANCE, RDS_CLUSTER, RDS_SNAPSHOT, RDS_CLUSTER_SNAPSHOT, LAMBDA_FUNCTION, ECR_REPOSITORY, SNS_TOPIC,
    SQS_QUEUE, EFS_FILE_SYSTEM, ELBV2_LOAD_BALANCER, WAFV2_WEB_ACL,
)
