"""Shared by the self tests: starting a server, the test context, helpers, constants."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
MGMT = "123456789012"
SECRET_NAME = "ecr-pullthroughcache/gitlab"
GITLAB = {"upstreamRegistry": "gitlab-container-registry", "upstreamRegistryUrl": "registry.gitlab.com"}
# One attempt only: the SDK would otherwise retry injected faults (and LimitExceededException).
NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def start_server(*extra, stderr=None, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "server.py"), "--port", "0", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
    )
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on http://127.0.0.1:"), f"unexpected first line {line!r}"
    return proc, line.split(" ", 2)[2].strip()


class Ctx:
    def __init__(self, url):
        self.url = url

    def ctl(self, method, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} -> {e.code}: {e.read()!r}")

    def client(self, service, region="us-east-1", creds=None, config=NO_RETRY):
        creds = creds or {"AccessKeyId": "test", "SecretAccessKey": "test"}
        return boto3.client(
            service, region_name=region, endpoint_url=self.url, config=config,
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
        )

    def assume(self, account_id):
        resp = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="ptc-rollout")
        return resp["Credentials"]


def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Message", "")
    raise AssertionError("expected an error")


LIFECYCLE = json.dumps({"rules": [{"rulePriority": 1, "description": "keep 10",
                                   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
                                   "action": {"type": "expire"}}]})
