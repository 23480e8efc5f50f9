"""Where the API is and how to authenticate to it: the global options, then the environment, then defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from flowctl.client import ApiClient, FlowctlError, SigV4, region_of

DEFAULT_ENDPOINT = "http://localhost:3000"
#: The output of template.yaml that holds the API's base URL.
STACK_OUTPUT = "ApiUrl"
DEFAULT_TIMEOUT = 30.0


@dataclass
class Options:
    """The global options as given, before the command's name or after it (the later one wins); None when not
    given."""

    output: str | None = None
    endpoint: str | None = None
    token: str | None = None
    sigv4: bool | None = None
    profile: str | None = None
    region: str | None = None
    stack: str | None = None
    timeout: float | None = None
    #: `approve --output JSON`, as the issue that asked for flowctl spells the callback's output (any value that
    #: is not a format: `table` and `json` stay formats).
    approval: str | None = None

    @property
    def json(self) -> bool:
        return self.output == "json"


def endpoint(options: Options, environ: Mapping[str, str]) -> str:
    """--endpoint, else --stack's API URL, else FLOW_API_URL, else the local stack."""
    if options.endpoint and options.stack:
        raise FlowctlError("give --endpoint or --stack, not both")
    if options.stack:
        url = stack_url(options.stack, options.profile, options.region)
    else:
        url = options.endpoint or environ.get("FLOW_API_URL") or DEFAULT_ENDPOINT
    if not url.startswith(("http://", "https://")):
        raise FlowctlError(f"the endpoint must be an http:// or https:// URL, not {url!r}")
    return url.rstrip("/")


def wants_sigv4(options: Options, environ: Mapping[str, str]) -> bool:
    """--sigv4; or, with no token anywhere, FLOW_AUTH=iam."""
    if options.sigv4 and options.token:
        raise FlowctlError("give --token or --sigv4, not both")
    if options.sigv4:
        return True
    return not token(options, environ) and environ.get("FLOW_AUTH", "").lower() == "iam"


def token(options: Options, environ: Mapping[str, str]) -> str | None:
    return options.token or environ.get("FLOW_TOKEN") or None


def client(options: Options, environ: Mapping[str, str], transport: httpx.BaseTransport | None = None) -> ApiClient:
    url = endpoint(options, environ)
    timeout = options.timeout or DEFAULT_TIMEOUT
    if wants_sigv4(options, environ):
        return ApiClient(
            url, auth=sigv4_auth(url, options.profile, options.region), timeout=timeout, transport=transport
        )
    return ApiClient(url, token=token(options, environ), timeout=timeout, transport=transport)


def _session(profile: str | None, region: str | None) -> Any:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as error:
        raise FlowctlError(f"AWS profile: {error}") from error


def sigv4_auth(url: str, profile: str | None, region: str | None) -> SigV4:
    """Signs with the default AWS credentials (or --profile's), for the region the URL names, else --region, else
    the profile's."""
    session = _session(profile, region)
    credentials = session.get_credentials()
    if credentials is None:
        raise FlowctlError(
            "--sigv4 needs AWS credentials: none found (set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID)"
        )
    signing_region = region or region_of(url) or session.region_name
    if not signing_region:
        raise FlowctlError("--sigv4 needs a region: give --region or set AWS_REGION")
    return SigV4(credentials, signing_region)


def stack_url(stack: str, profile: str | None, region: str | None) -> str:
    """The `ApiUrl` output of a deployed stack (CloudFormation's DescribeStacks)."""
    from botocore.exceptions import BotoCoreError, ClientError

    session = _session(profile, region)
    try:
        answer = session.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as error:
        raise FlowctlError(f"stack {stack}: {error.response.get('Error', {}).get('Message', error)}") from error
    except BotoCoreError as error:
        raise FlowctlError(f"stack {stack}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in answer["Stacks"][0].get("Outputs", [])}
    if STACK_OUTPUT not in outputs:
        named = ", ".join(sorted(outputs)) or "none"
        raise FlowctlError(f"stack {stack} has no {STACK_OUTPUT} output (its outputs: {named})")
    return str(outputs[STACK_OUTPUT])
