"""Creates the template's stateful resources (table, payload bucket, queue, timer state machine, callback signing
key) in moto."""

from __future__ import annotations

import os
import secrets as secrets_module
from dataclasses import dataclass
from typing import Any

import boto3

from local.template import StackSpec, load, parameter_values, stack_spec

ACCOUNT_ROLE = "arn:aws:iam::123456789012:role/flow-manager-local"
REGION = "us-east-1"
#: moto's fake account. Set before any client exists, so that nothing can reach a real one.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode", "StreamSpecification")


@dataclass(frozen=True)
class LocalStack:
    spec: StackSpec
    table_name: str
    stream_arn: str
    queue_url: str
    queue_arn: str
    state_machine_arn: str
    payload_bucket: str
    callback_key_secret: str

    def environment(self) -> dict[str, str]:
        """What the functions' environment holds in the cloud, pointed at these resources."""
        # The template declares AWS_ENDPOINT_URL empty (for `sam local --env-vars`); here it stays pointed at moto.
        declared = {name: value for name, value in self.spec.environment.items() if name != "AWS_ENDPOINT_URL"}
        return {
            **declared,
            "TABLE_NAME": self.table_name,
            "TIMER_STATE_MACHINE_ARN": self.state_machine_arn,
            "PAYLOAD_BUCKET": self.payload_bucket,
            "CALLBACK_KEY_SECRET_ARN": self.callback_key_secret,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # http tasks reach what the developer allows; its localhost entries may be loopback (only here).
            "HTTP_TASK_ALLOW": os.environ.get("HTTP_TASK_ALLOW", self.spec.environment.get("HTTP_TASK_ALLOW", "")),
            "HTTP_TASK_LOCAL_LOOPBACK": "true",
            **_tenancy_settings(),
        }


#: The per-tenant settings the API and the runner read, and the template Parameter that gives each its default.
_TENANCY_PARAMETERS = {
    "TENANT_CLAIM": "TenantClaim",
    "QUOTA_RUNNING_EXECUTIONS": "RunningExecutionsQuota",
    "QUOTA_STARTS_PER_SECOND": "StartsPerSecondQuota",
}


def _tenancy_settings() -> dict[str, str]:
    """The tenant claim and the quotas, as a deployment with the template's defaults has them, unless the
    environment says otherwise (`QUOTA_STARTS_PER_SECOND=0 make run`: no limit)."""
    defaults = parameter_values(load())
    return {name: os.environ.get(name, str(defaults[parameter])) for name, parameter in _TENANCY_PARAMETERS.items()}


def create_stack(
    session: boto3.session.Session | None = None,
    name: str = "flow-manager-local",
    callback_key: str | None = None,
    **client_args: Any,
) -> LocalStack:
    """The resources, in the account `session` reaches. `callback_key` is the string callback tokens are signed
    with (the local stack keeps one in its data folder, so that tokens it handed out outlive a restart); a
    random one when not given."""
    session = session or boto3.session.Session()
    spec = stack_spec()
    dynamodb = session.client("dynamodb", **client_args)
    table_args = {key: spec.table[key] for key in _TABLE_KEYS if key in spec.table}
    if "StreamSpecification" in table_args:  # CloudFormation implies StreamEnabled; the API wants it said
        table_args["StreamSpecification"] = {"StreamEnabled": True, **table_args["StreamSpecification"]}
    table = dynamodb.create_table(TableName=name, **table_args)["TableDescription"]
    ttl = spec.table.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)

    bucket = f"{name}-payloads"
    _create_bucket(session.client("s3", **client_args), bucket, spec.bucket)

    sqs = session.client("sqs", **client_args)
    queue_url = sqs.create_queue(QueueName=f"{name}-runner-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    sfn = session.client("stepfunctions", **client_args)
    definition = spec.timer_definition.replace("${TableName}", name)
    machine_arn = sfn.create_state_machine(name=f"{name}-timer", definition=definition, roleArn=ACCOUNT_ROLE)[
        "stateMachineArn"
    ]
    secrets = session.client("secretsmanager", **client_args)
    key = callback_key or secrets_module.token_urlsafe(48)
    secret_arn = secrets.create_secret(Name=f"{name}-callback-key", SecretString=key)["ARN"]
    return LocalStack(spec, name, table["LatestStreamArn"], queue_url, queue_arn, machine_arn, bucket, secret_arn)


def _create_bucket(s3: Any, name: str, properties: dict[str, Any]) -> None:
    """The payload bucket as the template declares it: encryption, public access blocked, objects owned by the
    bucket, lifecycle. Not its policy: it refuses plain HTTP, and everything local is plain HTTP on loopback
    (moto evaluates bucket policies, so each request would be refused)."""
    s3.create_bucket(Bucket=name)
    encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    if encryption:
        rules = [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]} for rule in encryption]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=properties["OwnershipControls"])
    lifecycle = properties.get("LifecycleConfiguration", {}).get("Rules", [])
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in lifecycle]}
        )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A lifecycle rule as CloudFormation writes it, as the S3 API takes it."""
    converted: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return converted
