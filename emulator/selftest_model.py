"""Self tests of the service-model check (model_check.py): requests the botocore models refuse
are refused in each service's protocol and wording, and recorded as `model_refusal` in the
call log. Run by selftest.py. The clients skip botocore's own parameter validation, as the
Rust SDK does for lengths and patterns."""

import json
import urllib.error
import urllib.request

from botocore.config import Config

from model_check import compiled_pattern
from selftest_common import GITLAB, MGMT, Ctx, error_of

UNCHECKED = Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=False)
ROLE = f"arn:aws:iam::{MGMT}:role/Workload"


def _refusals(c: Ctx) -> list:
    return [(x["action"], x["model_refusal"]) for x in c.ctl("GET", "/_ptc/calls")["calls"] if x.get("model_refusal")]


def test_model_pattern_refusal_ecr_prefix(c):
    # ECR checks repository prefixes as repository names: its own InvalidParameterException.
    ecr = c.client("ecr", "eu-west-1", config=UNCHECKED)
    code, status, msg = error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="Bad_Prefix!",
                                 upstreamRegistryUrl="quay.io")
    assert (code, status) == ("InvalidParameterException", 400), (code, status)
    assert msg.startswith("Invalid parameter at 'ecrRepositoryPrefix' failed to satisfy constraint: "
                          "'Member must satisfy regular expression pattern: ^([a-z0-9]+"), msg


def test_model_length_refusal(c):
    sm = c.client("secretsmanager", config=UNCHECKED)
    code, status, msg = error_of(sm.describe_secret, SecretId="x" * 2049)
    assert (code, status) == ("ValidationException", 400), (code, status)
    assert msg == ("1 validation error detected: Value '" + "x" * 2049 + "' at 'secretId' failed to satisfy "
                   "constraint: Member must have length less than or equal to 2048"), msg


def test_model_required_member(c):
    sm = c.client("secretsmanager", config=UNCHECKED)
    assert error_of(sm.describe_secret) == (
        "ValidationException", 400,
        "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")


def test_model_enum_and_several_errors(c):
    ecr = c.client("ecr", "eu-west-1", config=UNCHECKED)
    code, status, msg = error_of(ecr.create_repository_creation_template, prefix="model-enum",
                                 appliedFor=["PULL_THROUGH_CACHE"], imageTagMutability="SOMETIMES",
                                 description="d" * 257)
    assert (code, status) == ("ValidationException", 400), (code, status)
    assert msg.startswith("2 validation errors detected: Value '" + "d" * 257 + "' at 'description' failed to "
                          "satisfy constraint: Member must have length less than or equal to 256; "), msg
    assert msg.endswith("Value 'SOMETIMES' at 'imageTagMutability' failed to satisfy constraint: Member must "
                        "satisfy enum value set: [MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, "
                        "MUTABLE_WITH_EXCLUSION]"), msg


def test_model_sts_range_in_xml(c):
    sts = c.client("sts", config=UNCHECKED)
    code, status, msg = error_of(sts.assume_role, RoleArn=ROLE, RoleSessionName="a b", DurationSeconds=60)
    assert (code, status) == ("ValidationError", 400), (code, status)
    assert msg == ("2 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: "
                   "Member must satisfy regular expression pattern: [\\w+=,.@-]*; Value '60' at 'durationSeconds' "
                   "failed to satisfy constraint: Member must have value greater than or equal to 900"), msg
    # The raw answer: the query protocol's ErrorResponse, the message escaped as XML text.
    form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" + ROLE + "&RoleSessionName=%3Cx%3E%26"
    req = urllib.request.Request(c.url + "/", data=form.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sts/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    try:
        urllib.request.urlopen(req, timeout=30)
        raise AssertionError("expected a 400")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read().decode(), e.headers["Content-Type"]
    assert status == 400 and ctype == "text/xml", (status, ctype)
    assert body.startswith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender'
                           "</Type><Code>ValidationError</Code><Message>1 validation error detected: Value "
                           "'&lt;x&gt;&amp;' at 'roleSessionName'"), body


def test_model_nested_list_member_path(c):
    sm = c.client("secretsmanager", config=UNCHECKED)
    code, status, msg = error_of(sm.create_secret, Name="model/tags", SecretString="not-shown-value",
                                 Tags=[{"Key": "ok", "Value": "v"}, {"Key": "team", "Value": "v" * 257}])
    assert (code, status) == ("ValidationException", 400), (code, status)
    assert msg == ("1 validation error detected: Value '" + "v" * 257 + "' at 'tags.2.member.value' failed to "
                   "satisfy constraint: Member must have length less than or equal to 256"), msg
    # A sensitive member's value is never shown.
    code, _, msg = error_of(sm.create_secret, Name="model/long", SecretString="s" * 65537)
    assert code == "ValidationException" and "Value at 'secretString'" in msg and "sss" not in msg, msg


def test_model_service_codes(c):
    org = c.client("organizations", config=UNCHECKED)
    try:
        org.describe_account(AccountId="12")
        raise AssertionError("expected an error")
    except org.exceptions.InvalidInputException as e:
        assert e.response["Error"]["Message"] == "You provided a value that does not match the required pattern."
        assert e.response["Reason"] == "INVALID_PATTERN", e.response
    account = c.client("account", config=UNCHECKED)
    try:
        account.get_region_opt_status(RegionName="r" * 51)
        raise AssertionError("expected an error")
    except account.exceptions.ValidationException as e:
        assert e.response["reason"] == "fieldValidationFailed", e.response
        assert e.response["fieldList"][0]["name"] == "RegionName", e.response
    kms = c.client("kms", config=UNCHECKED)
    assert error_of(kms.describe_key, KeyId="")[:2] == ("ValidationException", 400)


def test_model_valid_requests_pass(c):
    c.ctl("POST", "/_ptc/calls/reset", {})
    ecr = c.client("ecr", "eu-west-1", config=UNCHECKED)
    ecr.describe_pull_through_cache_rules(maxResults=1000)
    c.client("sts", config=UNCHECKED).assume_role(RoleArn=ROLE, RoleSessionName="ptc-rollout@x.y", DurationSeconds=900,
                                                  Tags=[{"Key": "team", "Value": "ÄÖ ü:/=+-@"}])
    c.client("secretsmanager", config=UNCHECKED).list_secrets(MaxResults=100)
    c.client("organizations", config=UNCHECKED).list_accounts()
    assert _refusals(c) == [], _refusals(c)
    code, _, _ = error_of(ecr.describe_pull_through_cache_rules, maxResults=1001)
    assert code == "ValidationException", code


def test_model_refusal_in_call_log(c):
    c.ctl("POST", "/_ptc/calls/reset", {})
    ecr = c.client("ecr", "eu-west-1", config=UNCHECKED)
    error_of(ecr.create_pull_through_cache_rule, ecrRepositoryPrefix="x", **GITLAB,
             credentialArn=json.dumps("not an arn"))
    refused = _refusals(c)
    assert len(refused) == 1 and refused[0][0] == "CreatePullThroughCacheRule", refused
    assert "'ecrRepositoryPrefix'" in refused[0][1] and "length greater than or equal to 2" in refused[0][1], refused
    calls = c.ctl("GET", "/_ptc/calls")["calls"]
    assert calls[-1]["status"] == 400 and "fault" not in calls[-1], calls[-1]


# Java's \w \d \s and their negations are ASCII, in a class and out of one (java.util.regex.Pattern
# without UNICODE_CHARACTER_CLASS): (pattern, value, whether Java matches the whole value). Also
# sim/tests/model_table.rs, which checks the simulation's translation (scripts/model-table.py) too.
JAVA_CLASSES = [
    (r"\w+", "abc_09", True), (r"\w", "é", False), (r"[\w]", "é", False), (r"[^\w]", "é", True),
    (r"\W", "é", True), (r"\W", "a", False), (r"[\W]", "é", True), (r"[\W]", "a", False),
    (r"[^\W]", "é", False), (r"[^\W]", "a", True),
    (r"\d", "7", True), (r"\d", "\u0663", False), (r"[\d]", "\u0663", False), (r"\D", "\u0663", True),
    (r"[\D]", "\u0663", True), (r"[\D]", "7", False), (r"[^\D]", "7", True), (r"[^\D]", "\u0663", False),
    (r"\s", "\x0b", True), (r"\s", "\u00a0", False), (r"[\s]", "\u2003", False), (r"\S", "\u00a0", True),
    (r"[\S]", "\u00a0", True), (r"[\S]", " ", False), (r"[^\S]", " ", True), (r"[^\S]", "\u00a0", False),
    (r"[\s\S]*", "any\u00a0thing\n", True), (r"[a\W]", "b", False), (r"[a\W]", "é", True),
    (r"[^a\W]", "a", False), (r"[^a\W]", "b", True), (r"[^a\W]", "é", False), (r"[^\W\D]", "a", False),
    (r"[^\W\D]", "5", True), (r"[\p{L}\w]+", "é_1", True), (r"^\S+$", "x\u00a0", True),
]


def test_model_java_classes(c):
    wrong = [(p, v) for p, v, java in JAVA_CLASSES if bool(compiled_pattern(p).fullmatch(v)) != java]
    assert not wrong, f"matched unlike Java: {wrong}"


TESTS = [test_model_pattern_refusal_ecr_prefix, test_model_length_refusal, test_model_required_member,
         test_model_enum_and_several_errors, test_model_sts_range_in_xml, test_model_nested_list_member_path,
         test_model_service_codes, test_model_valid_requests_pass, test_model_refusal_in_call_log,
         test_model_java_classes]
