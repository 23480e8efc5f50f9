"""template.yaml: the payload bucket is private, HTTPS only, encrypted and expiring, and each function may do on it
exactly what it needs, under `executions/` only."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import load, role_statements, stack_spec

TEMPLATE = load()
RESOURCES = TEMPLATE["Resources"]
OBJECTS = {"Fn::Sub": "${PayloadBucket.Arn}/executions/*"}


def s3_statements(function: str) -> list[dict[str, Any]]:
    """The statements of `function`'s policies that grant S3 actions."""
    statements = [statement for _, statement in role_statements(TEMPLATE, function)]
    return [entry for entry in statements if any(str(action).startswith("s3:") for action in _actions(entry))]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def granted(function: str) -> dict[str, Any]:
    """Each S3 action `function` is allowed, with the resource (and condition) it is allowed on."""
    found: dict[str, Any] = {}
    for statement in s3_statements(function):
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            found[action] = (statement["Resource"], statement.get("Condition"))
    return found


def test_the_bucket_is_private_encrypted_retained_and_expires_with_the_tables_retention() -> None:
    bucket = RESOURCES["PayloadBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert "BucketName" not in properties  # named by CloudFormation: no hard-coded name
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (expiry,) = properties["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled"
    assert expiry["Prefix"] == "executions/"
    assert expiry["ExpirationInDays"] == {"Ref": "RetentionDays"}


def test_the_bucket_refuses_plain_http_and_old_tls() -> None:
    statements = RESOURCES["PayloadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert RESOURCES["PayloadBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "PayloadBucket"}
    conditions = {}
    for statement in statements:
        assert statement["Effect"] == "Deny"
        assert statement["Principal"] == "*"
        assert statement["Action"] == "s3:*"
        assert statement["Resource"] == [
            {"Fn::GetAtt": ["PayloadBucket", "Arn"]},
            {"Fn::Sub": "${PayloadBucket.Arn}/*"},
        ]
        conditions.update(statement["Condition"])
    assert conditions == {"Bool": {"aws:SecureTransport": "false"}, "NumericLessThan": {"s3:TlsVersion": 1.2}}


def test_the_api_may_store_read_and_delete_objects_and_list_only_under_executions() -> None:
    assert granted("ApiFunction") == {
        "s3:GetObject": (OBJECTS, None),
        "s3:PutObject": (OBJECTS, None),
        "s3:DeleteObject": (OBJECTS, None),
        "s3:ListBucket": (
            {"Fn::GetAtt": ["PayloadBucket", "Arn"]},
            {"StringLike": {"s3:prefix": "executions/*"}},
        ),
    }


def test_the_runner_may_store_and_read_objects_only() -> None:
    assert granted("TaskRunnerFunction") == {"s3:GetObject": (OBJECTS, None), "s3:PutObject": (OBJECTS, None)}


def test_the_failure_handler_has_no_access_to_payloads() -> None:
    assert granted("FailureHandlerFunction") == {}
    assert "PAYLOAD_BUCKET" not in RESOURCES["FailureHandlerFunction"]["Properties"].get("Environment", {}).get(
        "Variables", {}
    )


@pytest.mark.parametrize("function", ["ApiFunction", "TaskRunnerFunction"])
def test_the_functions_that_use_payloads_are_told_the_bucket(function: str) -> None:
    variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
    assert variables["PAYLOAD_BUCKET"] == {"Ref": "PayloadBucket"}


def test_no_function_is_granted_a_wildcard_on_s3() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for statement in s3_statements(name):
            assert not {"s3:*", "*"} & set(_actions(statement)), name
            assert statement["Resource"] != "*", name


def test_the_local_stack_reads_the_bucket_with_its_parameters_resolved() -> None:
    bucket = stack_spec().bucket
    retention = TEMPLATE["Parameters"]["RetentionDays"]["Default"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == retention


def test_the_bucket_setting_is_read_once_and_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcore.settings import Settings

    monkeypatch.setenv("TABLE_NAME", "flows")
    monkeypatch.delenv("PAYLOAD_BUCKET", raising=False)
    assert Settings.from_env().payload_bucket is None  # the failure handler has none
    monkeypatch.setenv("PAYLOAD_BUCKET", "  ")
    assert Settings.from_env().payload_bucket is None
    monkeypatch.setenv("PAYLOAD_BUCKET", "stack-payloadbucket-1x2y3z")
    assert Settings.from_env().payload_bucket == "stack-payloadbucket-1x2y3z"
