"""boto3 sessions and clients: the one place that decides endpoints, retries and timeouts."""

from cloudwarden.aws.session import AwsTarget, check_reachable, make_client, make_session

__all__ = ["AwsTarget", "check_reachable", "make_client", "make_session"]
