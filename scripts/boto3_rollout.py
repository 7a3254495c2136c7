#!/usr/bin/env python3
"""The competitor in scripts/bench-emulator: the boto3 script a platform engineer would write
to roll out ECR pull through cache for GitLab across an AWS Organization.

    GITLAB_REGISTRY_TOKEN=... boto3_rollout.py --regions us-east-1,eu-west-1 --report out.csv

Lists the Organization's ACTIVE accounts, assumes OrganizationAccountAccessRole in each (the
caller's own account, the management account, has no such role: its own credentials are
used), then converges every (account, Region) on a ThreadPoolExecutor: the secret (describe,
create if missing), the rule (describe, create if missing), the validation, and a CSV row.
The endpoint comes from AWS_ENDPOINT_URL, which boto3 reads itself (botocore >= 1.31).
"""

import argparse
import csv
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROLE_NAME = "OrganizationAccountAccessRole"
SECRET_NAME = "ecr-pullthroughcache/gitlab"
PREFIX = "gitlab"


def account_credentials(account_id, caller_account, sts):
    """Session keyword arguments for one account: the caller's own, or an assumed role's."""
    if account_id == caller_account:
        return {}
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE_NAME}",
                            RoleSessionName="boto3-rollout")["Credentials"]
    return {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"]}


def converge(account_id, region, credentials, username, token):
    """Secret, rule and validation in one (account, Region); returns the report row."""
    row = {"account_id": account_id, "region": region, "credential_arn": "", "is_valid": "false", "failure": ""}
    try:
        # A Session per task: boto3 Sessions are not thread safe, so each thread gets its own.
        session = boto3.Session(region_name=region, **credentials)
        secrets, ecr = session.client("secretsmanager"), session.client("ecr")
        try:
            arn = secrets.describe_secret(SecretId=SECRET_NAME)["ARN"]
        except secrets.exceptions.ResourceNotFoundException:
            value = json.dumps({"username": username, "accessToken": token})
            arn = secrets.create_secret(Name=SECRET_NAME, SecretString=value)["ARN"]
        row["credential_arn"] = arn
        try:
            ecr.describe_pull_through_cache_rules(ecrRepositoryPrefixes=[PREFIX])
        except ecr.exceptions.PullThroughCacheRuleNotFoundException:
            ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=PREFIX, upstreamRegistry="gitlab-container-registry",
                                               upstreamRegistryUrl="registry.gitlab.com", credentialArn=arn)
        result = ecr.validate_pull_through_cache_rule(ecrRepositoryPrefix=PREFIX)
        row["is_valid"] = "true" if result["isValid"] else "false"
        row["failure"] = result.get("failure", "")
    except (BotoCoreError, ClientError) as e:
        row["failure"] = str(e)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--regions", required=True, help="comma-separated Regions")
    p.add_argument("--report", required=True, help="CSV report path")
    p.add_argument("--username", default="ptc-bench-bot", help="GitLab user the token belongs to")
    p.add_argument("--workers", type=int, default=16, help="thread pool size (default 16)")
    args = p.parse_args()
    regions = args.regions.split(",")
    token = os.environ["GITLAB_REGISTRY_TOKEN"]  # from the environment, never the command line

    sts = boto3.client("sts")
    caller_account = sts.get_caller_identity()["Account"]
    accounts = [a["Id"] for page in boto3.client("organizations").get_paginator("list_accounts").paginate()
                for a in page["Accounts"] if a["Status"] == "ACTIVE"]
    credentials = {a: account_credentials(a, caller_account, sts) for a in accounts}

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(converge, a, r, credentials[a], args.username, token)
                   for a in accounts for r in regions]
        rows = sorted((f.result() for f in futures), key=lambda r: (r["account_id"], r["region"]))

    with open(args.report, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["account_id"])
        writer.writeheader()
        writer.writerows(rows)
    failed = [r for r in rows if r["is_valid"] != "true"]
    for r in failed:
        print(f"error: {r['account_id']} {r['region']}: {r['failure']}", file=sys.stderr)
    print(f"{len(rows) - len(failed)} of {len(rows)} targets valid", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
