"""The demo organisation's names: one place that the seeder, traffic, attack scenarios, tests and
the README's weakness table all read, so nobody hard-codes an account id or user name twice.

This module is data only (no I/O). The seeder (``lab/seed/``) builds exactly what is named here;
scenarios and traffic (``lab/scenarios/``, ``lab/traffic.py``) act through these principals.
"""

from __future__ import annotations

from typing import Final

ORG_NAME: Final = "cloudwarden-demo"
HOME_REGION: Final = "us-east-1"
SECOND_REGION: Final = "eu-west-1"
# A region nobody in the organisation uses: the crypto-mining scenario launches GPU instances there.
UNUSED_REGION: Final = "ap-southeast-2"

# The lab's default credentials are the management account's root user (moto's default account).
MANAGEMENT: Final = "123456789012"
PROD: Final = "222222222222"
DEV: Final = "333333333333"
MEMBER_ACCOUNTS: Final = {"prod": PROD, "dev": DEV}
ACCOUNTS: Final = {"management": MANAGEMENT, **MEMBER_ACCOUNTS}

# An account outside the organisation: trusted by one role, receives the exfiltrated snapshots.
EXTERNAL_ACCOUNT: Final = "999988887777"
ATTACKER_ACCOUNT: Final = "444455556666"

MEMBER_ACCESS_ROLE: Final = "OrganizationAccountAccessRole"

# Addresses from the documentation ranges (RFC 5737), never routed anywhere.
ATTACKER_IP: Final = "198.51.100.23"
ATTACKER_IP_2: Final = "203.0.113.66"
# Playing a Tor exit / entry node in the scenarios and flow logs.
TOR_NODE_IP: Final = "198.51.100.77"
OFFICE_IPS: Final = ("192.0.2.10", "192.0.2.11", "192.0.2.12")
ATTACKER_USER_AGENT: Final = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali2-amd64 exe/x86_64.kali.2024 prompt/off"

# --- IAM principals in the prod account (the dev account mirrors the developer users) ---------------
USER_ALICE: Final = "alice"  # developer, console + MFA, one fresh key: well configured
USER_BOB: Final = "bob"  # developer, console password without MFA, an access key 400 days old
USER_CI: Final = "ci-deployer"  # two active access keys; its key is the one that leaks
USER_LEGACY_ADMIN: Final = "legacy-admin"  # inline policy granting *:* , key unused for 200 days
USER_OPS_ADMIN: Final = "ops-admin"  # AdministratorAccess attached, MFA
USER_REPORTING: Final = "svc-reporting"  # access key never used, created 120 days ago
PROD_USERS: Final = (USER_ALICE, USER_BOB, USER_CI, USER_LEGACY_ADMIN, USER_OPS_ADMIN, USER_REPORTING)
DEV_USERS: Final = (USER_ALICE, USER_BOB)

ROLE_CI_DEPLOY: Final = "ci-deploy"  # assumed by ci-deployer; deploys Lambda/S3
ROLE_APP_INSTANCE: Final = "app-instance-role"  # instance profile of the web instances
ROLE_TRUST_ANY: Final = "cross-account-any"  # trust policy Principal "*"
ROLE_VENDOR: Final = "vendor-audit"  # trusts EXTERNAL_ACCOUNT without ExternalId
GROUP_DEVELOPERS: Final = "developers"
POLICY_DEPLOY: Final = "deploy-permissions"  # customer managed, attached to ci-deploy (privilege-escalation target)

# --- Resources (prod unless said otherwise) ----------------------------------------------------------
BUCKET_ORG_TRAIL: Final = f"cloudwarden-org-trail-{MANAGEMENT}"
BUCKET_PROD_TRAIL: Final = f"prod-trail-{PROD}"
BUCKET_PUBLIC_ACL: Final = f"prod-marketing-assets-{PROD}"  # public-read ACL
BUCKET_PUBLIC_POLICY: Final = f"prod-customer-exports-{PROD}"  # policy Principal "*" s3:GetObject
BUCKET_DATA: Final = f"prod-data-lake-{PROD}"  # encrypted, BPA on, logging: well configured
BUCKET_FLOW_LOGS: Final = f"prod-vpc-flow-logs-{PROD}"
BUCKET_DNS_LOGS: Final = f"prod-dns-query-logs-{PROD}"
BUCKET_DEV_SCRATCH: Final = f"dev-scratch-{DEV}"  # unencrypted, no logging

TRAIL_ORG: Final = "org-trail"  # management: organisation trail, multi-region, log validation
TRAIL_PROD: Final = "prod-trail"  # prod: single region, no log file validation

VPC_PROD_CIDR: Final = "10.10.0.0/16"
VPC_PROD_NO_FLOW_CIDR: Final = "10.20.0.0/16"
SG_WEB_OPEN: Final = "web-open-admin"  # 22 and 3389 open to 0.0.0.0/0
INSTANCE_WEB_TAG: Final = "web-1"  # IMDSv1, unencrypted root volume, app-instance-role
INSTANCE_WORKER_TAG: Final = "worker-1"  # IMDSv2, encrypted: well configured

KMS_ALIAS_ROTATED: Final = "alias/prod-data"
KMS_ALIAS_NOT_ROTATED: Final = "alias/prod-legacy"
KMS_ALIAS_PUBLIC: Final = "alias/prod-shared"  # key policy Principal "*"

SECRET_DB: Final = "prod/db/master"  # no rotation
SECRET_API: Final = "prod/payments/api-key"
SSM_PLAINTEXT_PASSWORD: Final = "/prod/app/db_password"  # Type String holding a password
SSM_SECURE: Final = "/prod/app/api_token"  # SecureString

RDS_PUBLIC: Final = "prod-reporting-db"  # publicly accessible, unencrypted
LAMBDA_PUBLIC: Final = "prod-webhook-handler"  # resource policy Principal "*", secrets in env vars
ECR_NO_SCAN: Final = "prod/web"  # scan-on-push off

# --- Organisation structure --------------------------------------------------------------------------
OU_WORKLOADS: Final = "Workloads"
OU_PROD: Final = "Prod"  # under Workloads; holds PROD
OU_DEV: Final = "Dev"  # under Workloads; holds DEV
OU_SECURITY: Final = "Security"  # empty: where a log-archive / audit account would go
SCP_DENY_LEAVE_ORG: Final = "deny-leave-organization"  # attached to the root
SCP_PROTECT_SECURITY: Final = "protect-security-services"  # no CloudTrail/GuardDuty tampering; on Workloads
ROLE_BREAK_GLASS: Final = "break-glass"  # the one role SCP_PROTECT_SECURITY exempts (every account)
ROLE_SUPPORT: Final = "aws-support-incidents"  # AWSSupportAccess (management and prod, not dev)
ROLE_LAMBDA_WEBHOOK: Final = "prod-webhook-handler-role"  # execution role of LAMBDA_PUBLIC

# --- More resources ----------------------------------------------------------------------------------
BUCKET_ORG_ACCESS_LOGS: Final = f"cloudwarden-access-logs-{MANAGEMENT}"  # server access logs, management
BUCKET_PROD_ACCESS_LOGS: Final = f"prod-access-logs-{PROD}"  # server access logs, prod
VPC_DEV_CIDR: Final = "10.30.0.0/16"  # dev: no flow logs, default security group left with its rules
VPC_PROD_TAG: Final = "prod-main"  # VPC_PROD_CIDR, flow logs to BUCKET_FLOW_LOGS
VPC_PROD_NO_FLOW_TAG: Final = "prod-legacy"  # VPC_PROD_NO_FLOW_CIDR, no flow logs
VPC_DEV_TAG: Final = "dev-main"
SG_WEB_PUBLIC: Final = "web-public"  # 80/443 from the world only: well configured
SG_WORKER: Final = "worker-internal"  # from inside the VPC only
NACL_RESTRICTED: Final = "prod-main-restricted"  # denies 22/3389 from the world
NACL_ALLOW_ALL: Final = "prod-legacy-allow-all"  # rule 100 allows all traffic from 0.0.0.0/0
AMI_BASE: Final = "al2023-base-2024.06"  # private base image the instances run
AMI_PUBLIC: Final = "web-golden-2024.06"  # made from web-1, launch permission "all"
SNAPSHOT_PUBLIC_TAG: Final = "web-1-data-backup"  # unencrypted, createVolumePermission "all"
SNAPSHOT_PRIVATE_TAG: Final = "worker-1-backup"  # encrypted, private
KMS_ALIAS_ORG_TRAIL: Final = "alias/org-trail"  # management: encrypts the organisation trail
SECRET_ROTATED: Final = SECRET_API  # the secret with rotation configured (every 30 days)
RDS_PRIVATE: Final = "prod-orders-db"  # private, encrypted, Multi-AZ: well configured
ECR_SCANNED: Final = "prod/api"  # scan-on-push on, immutable tags

# --- Names the attack scenarios create -----------------------------------------------------------------
BACKDOOR_USER: Final = "svc-backup-sync"  # compromised-credentials: created by the attacker, given admin
