"""Payloads on the local stack: the bucket is moto's, a download works over HTTP, and the objects' bytes live on
disk (their place in the data folder across restarts: tests/e2e/test_local_data.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from local import moto_patches
from local.moto_patches import FileBuffer
from local.runtime import LocalRuntime
from local.stack import REGION
from tests.conftest import example
from tests.e2e.conftest import Client

pytestmark = pytest.mark.e2e

#: Straight to 127.0.0.1, whatever proxy the environment names; follows redirects as a browser does.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NOT_FOLLOWING = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def large_input(size: int = 200_000) -> dict[str, Any]:
    return {"blob": "z" * size}


def followed(url: str) -> tuple[int, Any]:
    with _OPENER.open(url, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_the_bucket_is_moto_s_and_a_download_works_over_http(runtime: LocalRuntime, client: Client) -> None:
    # Given the running stack, its bucket in moto
    assert runtime.stack is not None
    s3: Any = boto3.client("s3", endpoint_url=runtime.moto_url, region_name=REGION)
    s3.head_bucket(Bucket=runtime.stack.payload_bucket)
    # When an execution of a 200 kB input runs
    document = client.run(example("data_processing"), large_input())
    reference = document["input_ref"]
    # Then the download route redirects to a link on moto's server, which serves the value
    try:
        _NOT_FOLLOWING.open(runtime.url + reference["ref"], timeout=30)
        raise AssertionError("no redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 307
        location = redirect.headers["Location"]
    assert location.startswith(f"{runtime.moto_url}/{runtime.stack.payload_bucket}/executions/")
    assert followed(location) == (200, large_input())
    assert followed(runtime.url + reference["ref"]) == (200, large_input())  # as a client following it sees it


def test_an_objects_bytes_are_on_disk_not_in_memory(runtime: LocalRuntime, client: Client) -> None:
    assert runtime.stack is not None
    document = client.run(example("data_processing"), large_input(900_000))
    key = f"executions/dev/{document['execution_id']}/{document['input_ref']['sha256']}.json"
    fake = moto_patches.s3_of(REGION).get_object(runtime.stack.payload_bucket, key)
    assert fake is not None
    buffer = fake._value_buffer
    assert isinstance(buffer, FileBuffer)
    assert buffer.path.stat().st_size == document["input_ref"]["size"]
