"""The user's Lambda functions, as the benchmark gives them to the runner: Invoke answered in process.

The runner's `lambda` tasks go through the deployed path unchanged (`LambdaFunctions` on the botocore client of
`flowcore.adapters.clients.lambda_`): the request is validated, serialised and signed, then answered in process
by running the handler of `examples/functions/<name>.py` before anything is sent, as `bench/micro.py` answers
DynamoDB. Why not the local Lambda endpoint (`local/lambdas.py`): it starts a Python process per invocation
(an interpreter start each, varying with the machine's load), which the runner would wait for and the bench
would bill as the runner's time. That is the endpoint's cost, not Lambda's, and it would make the row noisy.
What the runner waits for on AWS is the function's own duration; the report prices it at the same assumed
duration as the Step Functions side (`costs.ASSUMED_SECONDS_PER_TASK`), and says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "examples" / "functions"
Handler = Callable[[dict[str, Any], Any], Any]


class _Body(io.BytesIO):
    """A raw HTTP body as botocore reads it: `stream()` for parsed answers, `read()` for Invoke's `Payload`."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class UserFunctions:
    """Answers Lambda Invoke on the clients it is attached to, counting invocations per function."""

    def __init__(self, folder: Path = FUNCTIONS_DIR) -> None:
        self._folder = folder
        self._handlers: dict[str, Handler] = {}
        self.invocations: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.invocations.values())

    def reset(self) -> None:
        self.invocations = {}

    def attach(self, client: Any) -> None:
        """Answer the client's Invoke calls, and warm them up: every function's module loaded and one call made
        through the client (botocore loads Lambda's model on its first call), none of it counted. A cold
        container pays that once; the bench counts no container's INIT (docs/cost.md)."""
        client.meta.events.register_first("before-send.lambda.Invoke", self._answer)
        names = sorted(path.stem for path in self._folder.glob("*.py") if not path.name.startswith("_"))
        for name in names:
            self._handler(name)
        if names:
            client.invoke(FunctionName=names[0], Payload=b"{}")
        self.reset()

    def _handler(self, name: str) -> Handler:
        if name not in self._handlers:
            spec = importlib.util.spec_from_file_location(f"bench_function_{name}", self._folder / f"{name}.py")
            if spec is None or spec.loader is None:
                raise LookupError(f"no function {name} in {self._folder}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._handlers[name] = module.handler
        return self._handlers[name]

    def _answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        # /2015-03-31/functions/<name or ARN>/invocations
        reference = unquote(request.url.split("/functions/", 1)[1].split("/", 1)[0])
        name = reference.split("function:")[-1].split(":")[0]
        self.invocations[name] = self.invocations.get(name, 0) + 1
        context = SimpleNamespace(function_name=name, aws_request_id=str(uuid.uuid4()), memory_limit_in_mb=128)
        headers: dict[str, str] = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # a function's print() goes to its own log
                answer = self._handler(name)(json.loads(request.body or b"{}"), context)
        except Exception as error:  # noqa: BLE001 - any error of the function is its FunctionError, as Lambda's
            headers["X-Amz-Function-Error"] = "Unhandled"
            answer = {"errorType": type(error).__name__, "errorMessage": str(error)}
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(answer).encode()))
