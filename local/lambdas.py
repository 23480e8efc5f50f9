"""A local Lambda endpoint: the Invoke API, running the Python handlers of a folder.

`<name>.py` with `handler(event, context)` in the folder is the function `<name>`, reachable by its name, its
partial ARN (`123456789012:function:<name>`) or its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`),
with or without a qualifier: `$LATEST` and every alias or version run the same file. Files whose name starts
with `_` are helpers, not functions.

Each invocation runs in a process of its own (`local/lambda_child.py`), which loads the file afresh, so an edit
takes effect at the next invocation, a timeout can kill it and a crash cannot take the stack down. The timeout
is 3 s as on Lambda, or the file's module-level `TIMEOUT = <seconds>` (read with `ast`, never imported here),
at most 900. At most `max_concurrency` processes run at once; `Event` invocations wait in a bounded queue for a
few workers and are throttled (429) when it is full, as Lambda throttles. They are not retried on an error.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

log = logging.getLogger("local.lambda")

#: `make run`'s functions unless `--functions` or `FUNCTIONS_DIR` name another folder.
DEFAULT_FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "examples" / "functions"
CHILD = Path(__file__).resolve().parent / "lambda_child.py"
ACCOUNT = "123456789012"
DEFAULT_TIMEOUT = 3.0
MAX_TIMEOUT = 900.0
MEMORY_MB = 128  # Lambda's default memory size, reported to the handler; the child's real cap is its address space
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024
#: A body over its limit is read and dropped up to this size (so the client reads the 413), beyond it the
#: connection is closed.
_DRAIN_LIMIT = 16 * 1024 * 1024
_LOG_TAIL_BYTES = 4096
_LOG_KEPT_BYTES = 64 * 1024
#: A synchronous call waits this long for a free process before it is throttled.
SLOT_WAIT_SECONDS = 30.0

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUALIFIER = re.compile(r"\$LATEST|[A-Za-z0-9_-]{1,128}")
_FUNCTION_REF = re.compile(
    r"(?:arn:aws[a-z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<arn_account>\d{12}):function:|(?P<account>\d{12}):function:)?"
    r"(?P<name>[^:]*)(?::(?P<qualifier>[^:]*))?"
)
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<function>[^/]+)/invocations")


class InvokeError(Exception):
    """A refusal in Lambda's error shape: botocore raises the exception named by `code`."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


# -- the folder ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaFunction:
    name: str
    path: Path
    timeout: float


def declared_timeout(path: Path) -> float:
    """The file's module-level `TIMEOUT = <seconds>`, read without running the file; 3 s without one."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return DEFAULT_TIMEOUT  # the invocation reports the syntax error
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "TIMEOUT" for target in targets):
            number = value.value if isinstance(value, ast.Constant) else None
            if isinstance(number, int | float) and not isinstance(number, bool) and number > 0:
                return min(float(number), MAX_TIMEOUT)
    return DEFAULT_TIMEOUT


class FunctionFolder:
    """The functions of one folder. A name never reaches the file system unless it matches Lambda's pattern,
    and only a regular file directly in the folder is a function (a symbolic link out of it is not)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.stem for path in self.folder.glob("*.py") if self._is_function(path.stem))

    def find(self, name: str) -> LambdaFunction | None:
        if not self._is_function(name):
            return None
        path = self.folder / f"{name}.py"
        if not path.is_file() or path.resolve().parent != self.folder:
            return None
        return LambdaFunction(name, path, declared_timeout(path))

    @staticmethod
    def _is_function(name: str) -> bool:
        return bool(_NAME.fullmatch(name)) and not name.startswith("_")


@dataclass(frozen=True)
class FunctionRef:
    name: str
    qualifier: str | None
    arn: str


def parse_function_ref(raw: str, qualifier: str | None, region: str) -> FunctionRef:
    """A FunctionName as Invoke takes it: name, partial ARN or ARN, each with an optional `:qualifier`."""
    match = _FUNCTION_REF.fullmatch(raw)
    if match is None or not _NAME.fullmatch(match["name"]):
        raise InvokeError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
            "(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\\d{12}:function:)?[a-zA-Z0-9-_]{1,64}(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        )
    derived = match["qualifier"]
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvokeError(
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )
    chosen = derived if derived is not None else qualifier
    if chosen is not None and not _QUALIFIER.fullmatch(chosen):
        raise InvokeError(400, "ValidationException", f"Invalid qualifier: {chosen!r}")
    account = match["arn_account"] or match["account"] or ACCOUNT
    arn = f"arn:aws:lambda:{match['region'] or region}:{account}:function:{match['name']}"
    return FunctionRef(match["name"], chosen, f"{arn}:{chosen}" if chosen else arn)


# -- one invocation -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an invocation answers: the payload, and whether it is the function's error."""

    payload: bytes
    function_error: bool = False
    log_tail: bytes = b""


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


@dataclass
class ProcessRunner:
    """Runs one invocation in a child process and waits for it, up to the function's timeout."""

    task_root: Path
    region: str = "us-east-1"
    _children: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, function: LambdaFunction, ref: FunctionRef, payload: bytes, request_id: str) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="flow-manager-lambda-") as work:
            work_dir = Path(work)
            started = time.time()
            request = {
                "function_name": function.name,
                "path": str(function.path),
                "task_root": str(self.task_root),
                "invoked_function_arn": ref.arn,
                "memory_limit_in_mb": MEMORY_MB,
                "request_id": request_id,
                "log_stream_name": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
                "deadline_ms": int((started + function.timeout) * 1000),
            }
            (work_dir / "request.json").write_text(json.dumps(request))
            (work_dir / "event.json").write_bytes(payload)
            with open(work_dir / "log", "w+b") as output:
                returncode = self._run_child(function, work_dir, output)
                elapsed_ms = (time.time() - started) * 1000
                output.seek(max(0, output.seek(0, os.SEEK_END) - _LOG_KEPT_BYTES))
                printed = output.read()
            outcome = self._outcome(function, work_dir / "result.json", returncode, request_id)
        self._log(function.name, request_id, printed, outcome, elapsed_ms)
        outcome.log_tail = _log_tail(request_id, printed, outcome, elapsed_ms)
        return outcome

    def _run_child(self, function: LambdaFunction, work_dir: Path, output: Any) -> int | None:
        """The child's exit status, None when it timed out (it is killed, with anything it started)."""
        child = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script, a folder we made
            [sys.executable, str(CHILD), str(work_dir)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            cwd=self.task_root,
            env=self._environment(function),
            start_new_session=True,
        )
        with self._lock:
            self._children.add(child)
        try:
            return child.wait(timeout=function.timeout)
        except subprocess.TimeoutExpired:
            _kill(child)
            return None
        finally:
            child.wait()
            with self._lock:
                self._children.discard(child)

    def _environment(self, function: LambdaFunction) -> dict[str, str]:
        """The stack's environment (moto's endpoint, this endpoint, the fake credentials) and Lambda's own."""
        return {
            **os.environ,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the user's folder
        }

    @staticmethod
    def _outcome(function: LambdaFunction, result: Path, returncode: int | None, request_id: str) -> Outcome:
        if returncode is None:
            message = f"{request_id} Task timed out after {function.timeout:.2f} seconds"
            return Outcome(_error_payload("Sandbox.Timedout", message), function_error=True)
        if not result.is_file():
            status = f"signal: {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
            message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
            return Outcome(_error_payload("Runtime.ExitError", message), function_error=True)
        document = json.loads(result.read_bytes())
        if "error" in document:
            return Outcome(json.dumps(document["error"]).encode(), function_error=True)
        payload = document["payload"].encode()
        if len(payload) > SYNC_PAYLOAD_LIMIT:
            message = f"Response payload size exceeded maximum allowed payload size ({SYNC_PAYLOAD_LIMIT} bytes)."
            return Outcome(_error_payload("Function.ResponseSizeTooLarge", message), function_error=True)
        return Outcome(payload)

    @staticmethod
    def _log(name: str, request_id: str, printed: bytes, outcome: Outcome, elapsed_ms: float) -> None:
        for line in printed.decode(errors="replace").splitlines():
            log.info("%s: %s", name, line)
        if outcome.function_error:
            error = json.loads(outcome.payload)
            log.warning("%s %s failed: %s: %s", name, request_id, error["errorType"], error["errorMessage"])
        else:
            log.info("%s %s ran in %.0f ms", name, request_id, elapsed_ms)

    def stop(self) -> None:
        """Kill every child still running (their callers get a Runtime.ExitError)."""
        with self._lock:
            children = list(self._children)
        for child in children:
            _kill(child)


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # its own session: whatever the handler started goes too


def _log_tail(request_id: str, printed: bytes, outcome: Outcome, elapsed_ms: float) -> bytes:
    """The last 4 KB of the invocation's log, as `X-Amz-Log-Type: Tail` returns it."""
    lines = [f"START RequestId: {request_id} Version: $LATEST\n".encode(), printed]
    if outcome.function_error:
        lines.append(outcome.payload + b"\n")
    lines.append(f"END RequestId: {request_id}\n".encode())
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tBilled Duration: {elapsed_ms:.0f} ms\t"
        f"Memory Size: {MEMORY_MB} MB\t\n".encode()
    )
    return b"".join(lines)[-_LOG_TAIL_BYTES:]


# -- the endpoint -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    function: LambdaFunction
    ref: FunctionRef
    payload: bytes
    request_id: str


class LambdaServer(ThreadingHTTPServer):
    """Serve with `serve_forever()` (a thread) and `start_workers()`; `stop()` ends both and kills the children."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        folder: FunctionFolder,
        max_concurrency: int = 4,
        event_workers: int = 2,
        event_queue_size: int = 32,
        region: str = "us-east-1",
    ) -> None:
        super().__init__(address, LambdaRequestHandler)
        self.folder = folder
        self.region = region
        self.runner = ProcessRunner(folder.folder, region)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._waiting = threading.BoundedSemaphore(max_concurrency * 4)  # sync calls waiting for a slot
        self._events: queue.Queue[_Event] = queue.Queue(maxsize=event_queue_size)
        self._stopping = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"lambda-events-{index}", daemon=True)
            for index in range(event_workers)
        ]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_workers(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        """Stop taking requests, drop the events not started, kill the running children."""
        self._stopping.set()
        self.shutdown()
        self.server_close()
        dropped = 0
        while True:
            try:
                self._events.get_nowait()
            except queue.Empty:
                break
            dropped += 1
        if dropped:
            log.warning("dropped %d Event invocation(s) not yet started", dropped)
        self.runner.stop()
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("connection from %s ended: %r", client_address[0], sys.exc_info()[1])

    def function(self, ref: FunctionRef) -> LambdaFunction:
        function = self.folder.find(ref.name)
        if function is None:
            raise InvokeError(404, "ResourceNotFoundException", f"Function not found: {ref.arn}")
        return function

    def invoke(self, function: LambdaFunction, ref: FunctionRef, payload: bytes, request_id: str) -> Outcome:
        if not self._waiting.acquire(blocking=False):
            raise _throttled()
        try:
            if not self._slots.acquire(timeout=SLOT_WAIT_SECONDS):
                raise _throttled()
        finally:
            self._waiting.release()
        try:
            return self.runner.run(function, ref, payload, request_id)
        finally:
            self._slots.release()

    def enqueue(self, event: _Event) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            raise _throttled() from None

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                event = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._slots:
                if self._stopping.is_set():
                    return
                self.runner.run(event.function, event.ref, event.payload, event.request_id)


def _throttled() -> InvokeError:
    return InvokeError(429, "TooManyRequestsException", "Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")


class LambdaRequestHandler(BaseHTTPRequestHandler):
    server: LambdaServer
    protocol_version = "HTTP/1.1"
    timeout = 60

    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            status, headers, body = self._invoke(request_id)
        except InvokeError as error:
            status, headers = error.status, {"x-amzn-ErrorType": error.code}
            body = json.dumps({"Type": "User", "message": error.message, **error.extra}).encode()
            if error.status == 429:
                headers["Retry-After"] = "1"
        self._send(status, {"x-amzn-RequestId": request_id, **headers}, body)

    def do_GET(self) -> None:
        self._send(404, {"x-amzn-ErrorType": "UnknownOperationException"}, b'{"Type": "User", "message": null}')

    do_PUT = do_DELETE = do_GET

    def _invoke(self, request_id: str) -> tuple[int, dict[str, str], bytes]:
        path, _, query = self.path.partition("?")
        match = _INVOKE_PATH.fullmatch(path)
        if match is None:
            raise InvokeError(404, "UnknownOperationException", f"no such operation: POST {path}")
        qualifier = parse_qs(query).get("Qualifier", [None])[0]
        ref = parse_function_ref(unquote(match["function"]), qualifier, self.server.region)
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise InvokeError(400, "InvalidParameterValueException", f"Unsupported invocation type {invocation_type}")
        payload = self._read_payload(ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT)
        function = self.server.function(ref)
        if invocation_type == "DryRun":
            return 204, {}, b""
        if invocation_type == "Event":
            self.server.enqueue(_Event(function, ref, payload, request_id))
            return 202, {}, b""
        outcome = self.server.invoke(function, ref, payload, request_id)
        headers = {"content-type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if outcome.function_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(outcome.log_tail).decode()
        return 200, headers, outcome.payload

    def _read_payload(self, limit: int) -> bytes:
        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            raise InvokeError(400, "InvalidRequestContentException", "Invalid Content-Length") from None
        if length > limit:
            if length <= _DRAIN_LIMIT:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1024 * 1024))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            else:
                self.close_connection = True
            raise InvokeError(
                413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes for the Invoke operation"
            )
        payload = self.rfile.read(length) if length > 0 else b""
        if payload:
            try:
                json.loads(payload)
            except ValueError as error:
                raise InvokeError(
                    400, "InvalidRequestContentException", f"Could not parse request body into json: {error}"
                ) from None
        return payload

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-type" not in headers:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(body)
        log.debug("POST %s %d", self.path, status)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: each invocation is logged once, by the runner."""
