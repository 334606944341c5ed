"""Collectors that need code rather than a descriptor: IAM, S3, account and region settings, Organizations,
Identity Center."""
