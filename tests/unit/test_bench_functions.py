"""The benchmark's stand-in for Lambda: Invoke through the deployed adapter, answered in process by the
example functions, counted per function."""

from __future__ import annotations

import json
from typing import Any

import boto3

from bench.functions import UserFunctions
from flowcore.adapters.integrations import LambdaFunctions


def _functions() -> tuple[UserFunctions, LambdaFunctions]:
    client: Any = boto3.client(
        "lambda",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # a closed port: nothing is sent
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    functions = UserFunctions()
    functions.attach(client)
    return functions, LambdaFunctions(lambda: client)


def test_an_invoke_runs_the_example_function_and_is_counted() -> None:
    functions, port = _functions()

    answer = port.invoke("score", json.dumps({"amount": 120, "items": 3}).encode(), None)

    assert answer.function_error is None
    assert json.loads(answer.payload) == {"score": 46.0}
    assert functions.invocations == {"score": 1}


def test_an_arn_with_a_qualifier_names_the_same_function() -> None:
    functions, port = _functions()

    answer = port.invoke("arn:aws:lambda:us-east-1:123456789012:function:enrich", b'{"order": "A-1"}', "$LATEST")

    assert json.loads(answer.payload)["enriched_by"] == "enrich"
    assert functions.total == 1


def test_a_function_that_raises_answers_as_lambda_does() -> None:
    functions, port = _functions()

    answer = port.invoke("score", b'{"amount": 0}', None)

    assert answer.function_error == "Unhandled"
    assert json.loads(answer.payload) == {
        "errorType": "ValueError",
        "errorMessage": "amount must be a positive number, not 0",
    }
    functions.reset()
    assert functions.total == 0
