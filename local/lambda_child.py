"""One invocation of a local Lambda function, in a process of its own: `python lambda_child.py <work dir>`.

`local/lambdas.py` starts it with the request in `<work dir>/request.json` and the event in `event.json`; it
loads `<name>.py` afresh from the functions folder, calls its `handler(event, context)` and writes the outcome
to `result.json`: `{"payload": <the result as JSON text>}` or `{"error": <Lambda's error document>}`. What the
handler prints goes to the process's stdout and stderr, which the server keeps as the invocation's log.

Standard library only, and nothing of the checkout: it runs with the functions folder as its import root, as
Lambda runs a handler from /var/task.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

#: The child's address space; a handler that allocates beyond it gets a MemoryError, the stack goes on.
ADDRESS_SPACE_BYTES = 512 * 1024 * 1024
#: The largest file the child may write (its log and its result included).
FILE_SIZE_BYTES = 64 * 1024 * 1024


class LambdaContext:
    """The attributes of Lambda's Python context object that handlers read."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name: str = request["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: int = request["memory_limit_in_mb"]
        self.aws_request_id: str = request["request_id"]
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = request["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def error(message: str, error_type: str, request_id: str, stack_trace: list[str] | None = None) -> dict[str, Any]:
    """An error document as Lambda's Python runtime (awslambdaric) writes it."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack_trace or []}


class Fault(Exception):
    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(document["errorMessage"])
        self.document = document


def _load(name: str, path: Path, request_id: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise Fault(
            error(f"Unable to import module '{name}': cannot load {path.name}", "Runtime.ImportModuleError", "")
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as syntax:
        trace = [f'  File "{syntax.filename}" Line {syntax.lineno}\n    {syntax.text}']
        raise Fault(
            error(f"Syntax error in module '{name}': {syntax}", "Runtime.UserCodeSyntaxError", request_id, trace)
        ) from None
    except ImportError as missing:
        raise Fault(error(f"Unable to import module '{name}': {missing}", "Runtime.ImportModuleError", "")) from None
    return module


def _traceback(tb: Any) -> list[str]:
    frames = traceback.extract_tb(tb)
    return traceback.format_list(frames[1:])  # without this module's frame, as the runtime leaves out bootstrap.py


def invoke(request: dict[str, Any], event: Any) -> dict[str, Any]:
    name, request_id = request["function_name"], request["request_id"]
    try:
        module = _load(name, Path(request["path"]), request_id)
        handler = getattr(module, "handler", None)
        if not callable(handler):
            raise Fault(error(f"Handler 'handler' missing on module '{name}'", "Runtime.HandlerNotFound", request_id))
        result = handler(event, LambdaContext(request))
    except Fault as fault:
        return {"error": fault.document}
    except Exception as raised:  # noqa: BLE001 - whatever the handler raises is the function's error
        return {"error": error(str(raised), type(raised).__name__, request_id, _traceback(raised.__traceback__))}
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as unencodable:
        return {"error": error(f"Unable to marshal response: {unencodable}", "Runtime.MarshalError", request_id)}


def main(work_dir: Path) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_BYTES, FILE_SIZE_BYTES))
    request = json.loads((work_dir / "request.json").read_text())
    event = json.loads((work_dir / "event.json").read_bytes() or b"{}")
    sys.path[0] = request["task_root"]  # the functions folder, as /var/task: a handler imports its neighbours
    outcome = invoke(request, event)
    sys.stdout.flush()
    partial = work_dir / "result.partial"
    partial.write_text(json.dumps(outcome))
    os.replace(partial, work_dir / "result.json")  # whole or absent, even if the process is killed meanwhile
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
