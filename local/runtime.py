"""The whole local stack in one process: moto's server, the API over HTTP, the pollers and a Lambda endpoint.

`python -m local` runs it until Ctrl-C; the end-to-end tests start it on free ports. The handlers are the
deployed code, unchanged: they find moto through `AWS_ENDPOINT_URL`, the local Lambda endpoint (local/lambdas.py)
through `AWS_ENDPOINT_URL_LAMBDA`, and the resources through the same environment variables the template gives
them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import boto3
from moto.server import ThreadedMotoServer

from local import moto_patches
from local.auth import AUTH_JWT, AUTH_MODES, AUTH_NONE, Gate, LocalAuthority, check_binding, development_gate, jwt_gate
from local.containers import reset_containers
from local.datastore import DataFolder, Keeper, LoadReport, PayloadBucket
from local.esm import Handler, QueuePump, StreamPump, passes, sqs_failure_sink
from local.lambdas import DEFAULT_FUNCTIONS_DIR, FunctionFolder, LambdaServer
from local.poller import Poller
from local.retention import StreamRetention, TrimmingPump
from local.server import ApiServer
from local.stack import FAKE_CREDENTIALS, REGION, LocalStack, create_stack
from local.streams import StreamCursor

log = logging.getLogger("local")

#: Settings from the user's shell that would send the handlers somewhere other than this moto server.
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
_LOOPBACK = "127.0.0.1,localhost"
#: Talks to moto directly, whatever proxy the shell configures.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PortUnavailable(RuntimeError):
    """A port the stack needs cannot be listened on; the message says which and what to do."""


class DataUnreadable(RuntimeError):
    """The data folder's last save cannot be loaded; the message says which file and what to do."""


def _unavailable(error: OSError, role: str, host: str, port: int, flag: str) -> PortUnavailable:
    if error.errno == errno.EADDRINUSE:
        return PortUnavailable(f"port {port} ({role}) is already in use; stop what uses it or pick another with {flag}")
    return PortUnavailable(f"cannot listen on {host}:{port} ({role}): {error.strerror or error}")


def _probe(host: str, port: int) -> None:
    """Bind the port for a moment, so a taken port is reported before moto's server prints its own advice."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class _OneAtATime:
    """A WSGI app that serves one request at a time.

    moto's backends are not thread-safe, and the API, the pollers and Step Functions' own threads all call
    the server at once. The worst case loses writes: a cancelled TransactWriteItems puts back a copy of the
    table taken before it, dropping what other requests wrote meanwhile.
    """

    def __init__(self, app: Any, lock: threading.Lock) -> None:
        self._app = app
        self.lock = lock  # also held by whatever changes moto's state from outside a request (trims, saves)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class _MotoServer(ThreadedMotoServer):
    """moto's threaded server, serialised, and a bind failure is raised instead of hanging `start()`."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        super().start()
        if self._server is not None:
            self._server.app = _OneAtATime(self._server.app, self.lock)

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as error:  # noqa: BLE001 - werkzeug calls sys.exit(1) on a taken port
            self.error = error
            self._server_ready_event.set()

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()


def _api_handler(event: dict[str, Any], context: Any) -> Any:
    # Imported on first use: the handlers must not be imported before the environment points at moto.
    from functions.api.app import lambda_handler

    return lambda_handler(event, context)


def _logged(function_name: str, handler: Handler) -> Handler:
    """Lambda writes a function error's trace to the log; the pumps only count it as a failed batch."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception:
            log.exception("%s raised; its batch will be retried", function_name)
            raise

    return invoke


def _reported(sink: Callable[[dict[str, Any]], None], retention: StreamRetention) -> Callable[[dict[str, Any]], None]:
    def send(message: dict[str, Any]) -> None:
        info = message["DDBStreamBatchInfo"]
        log.error(
            "gave up on %d stream record(s) after %d invocations; sent to the failure queue (sequence numbers %s..%s)",
            info["batchSize"],
            message["requestContext"]["approximateInvokeCount"],
            info["startSequenceNumber"],
            info["endSequenceNumber"],
        )
        retention.pin(message)  # the failure handler reads these records again when it takes the message
        try:
            sink(message)
        except Exception:
            retention.unpin(json.dumps(message))
            raise

    return send


def _warm_up() -> None:
    """Build the handlers' clients and load what they import lazily, here, on one thread.

    boto3's default session is not safe to create clients from on two threads at once, and the first
    request and the first stream batch would otherwise do exactly that.
    """
    from flowcore.wiring import api, failures, runner
    from functions.api import app as api_app
    from local.apigw import http_event
    from local.esm import LambdaContext

    runner.stream_consumer()
    failures.failed_batch_handler()
    api.flows()
    api.executions()
    api_app.lambda_handler(http_event("GET", "/health"), LambdaContext("ApiFunction"))


def _log_loaded(folder: DataFolder, loaded: LoadReport, every: str) -> None:
    log.info(
        "data: %s (%d item(s) loaded, %d payload(s), %d run(s) re-dispatched, %d timer(s); %s)",
        folder.folder,
        loaded.items,
        loaded.payloads,
        loaded.redispatched,
        loaded.timers,
        every,
    )
    if loaded.dangling:
        log.warning(
            "data: %d reference(s) to payloads that were not saved: downloading one answers 404, and a task that "
            "reads one fails",
            len(loaded.dangling),
        )


class LocalRuntime:
    """Start with `start()` (or `with LocalRuntime(...) as runtime:`); port 0 picks a free port."""

    _running = threading.Lock()

    def __init__(
        self,
        port: int = 3000,
        moto_port: int = 5000,
        host: str = "127.0.0.1",
        stack_name: str = "flow-manager-local",
        poll_interval: float = 0.05,
        log_level: str | None = None,
        data_dir: Path | None = None,
        fresh: bool = False,
        save_interval: float = 60.0,
        functions_dir: Path = DEFAULT_FUNCTIONS_DIR,
        lambda_port: int = 0,
        auth: str = AUTH_NONE,
        authority: LocalAuthority | None = None,
    ) -> None:
        """`data_dir`: load the data saved there on start and save into it periodically and on stop (None: keep
        nothing, as the tests do); `fresh`: start empty, setting the last save aside; `functions_dir`: the Python
        handlers the Lambda endpoint runs, on `lambda_port` (0: a free port); `auth`: `none` (every request is the
        development tenant; loopback only) or `jwt` (every request but the public routes needs a token `authority`
        signed, by default one whose key is kept in `data_dir`, or in memory without one)."""
        if auth not in AUTH_MODES:
            raise ValueError(f"auth is one of {', '.join(AUTH_MODES)}, not {auth!r}")
        self.host = host
        self.auth = auth
        self.authority = authority
        self._port = port
        self._moto_port = moto_port
        self._stack_name = stack_name
        self._poll_interval = poll_interval
        self._log_level = log_level  # set: the handlers log in the console format at this level
        self._saved_env: dict[str, str | None] = {}
        self._saved_sfn_config: dict[str, Any] | None = None
        self._moto: _MotoServer | None = None
        self._api: ApiServer | None = None
        self._api_thread: threading.Thread | None = None
        self._functions = FunctionFolder(functions_dir)
        self._lambda_port = lambda_port
        self._lambda: LambdaServer | None = None
        self._lambda_thread: threading.Thread | None = None
        self._pollers: list[Poller] = []
        self.stack: LocalStack | None = None
        self.pump: StreamPump | None = None
        self.retention: StreamRetention | None = None
        self._data = DataFolder(data_dir) if data_dir is not None else None
        self._fresh = fresh
        self._save_interval = save_interval
        self.keeper: Keeper | None = None
        self._spool: Path | None = None
        self._holds_process = False

    # -- addresses ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._api.server_address[1] if self._api else self._port

    @property
    def moto_port(self) -> int:
        return self._moto.get_host_and_port()[1] if self._moto and self._moto.error is None else self._moto_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def lambda_url(self) -> str:
        port = self._lambda.server_address[1] if self._lambda else self._lambda_port
        return f"http://{self.host}:{port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    # -- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info(
            "Flow Manager is running: API %s (Swagger UI %s/docs), moto %s, Lambda %s",
            self.url,
            self.url,
            self.moto_url,
            self.lambda_url,
        )
        return self

    def _gate(self) -> Gate:
        """What stands in front of the API function: the development tenant, or the JWT authorizer."""
        check_binding(self.host, self.auth)
        if self.auth != AUTH_JWT:
            return development_gate
        if self.authority is None:
            self.authority = LocalAuthority(self._data.folder if self._data is not None else None)
        return jwt_gate(self.authority)

    def _start(self) -> None:
        gate = self._gate()
        try:  # the API's socket first: it is the one a second `make run` collides with
            self._api = ApiServer((self.host, self._port), _api_handler, gate=gate)
        except OSError as error:
            raise _unavailable(error, "the API", self.host, self._port, "--port or PORT") from None
        try:
            self._lambda = LambdaServer((self.host, self._lambda_port), self._functions, region=REGION)
        except OSError as error:
            raise _unavailable(error, "Lambda", self.host, self._lambda_port, "--lambda-port or LAMBDA_PORT") from None
        try:
            _probe(self.host, self._moto_port)
        except OSError as error:
            raise _unavailable(error, "moto", self.host, self._moto_port, "--moto-port or MOTO_PORT") from None
        # moto's backends and the handlers' caches are per process: a second stack would share (and reset) them.
        if not LocalRuntime._running.acquire(blocking=False):
            raise RuntimeError("a local stack is already running in this process")
        self._holds_process = True
        self._spool_payloads()
        moto = self._start_moto()
        self._set_environment(self._aws_environment())
        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=REGION,
        )
        key = self._data.callback_key() if self._data is not None else None
        self.stack = create_stack(session, self._stack_name, callback_key=key, endpoint_url=self.moto_url)
        self._set_environment(self.stack.environment())
        reset_containers()
        if self._log_level:
            from local.logs import use_console_format

            use_console_format(self._log_level)
        _warm_up()

        if self._data is not None:
            self.keeper = self._open_data(self._data, session, moto)
        self._start_lambda(self._lambda)  # before the pollers: a run they re-dispatch may invoke a function
        self._start_pollers(session, moto)
        self._api_thread = threading.Thread(target=self._api.serve_forever, name="api-server", daemon=True)
        self._api_thread.start()

    def _open_data(self, folder: DataFolder, session: boto3.session.Session, moto: _MotoServer) -> Keeper:
        """Load the last save into the new stack (or set it aside for a fresh start)."""
        assert self.stack is not None
        stack = self.stack

        def dispatches(image: dict[str, Any]) -> bool:
            return passes(stack.spec.mapping.filters, {"eventName": "INSERT", "dynamodb": {"NewImage": image}})

        keeper = Keeper(
            folder,
            lambda: moto_patches.table_of(stack.table_name, REGION),
            moto.lock,
            session.client("stepfunctions", endpoint_url=self.moto_url),
            stack.state_machine_arn,
            dispatches,
            self._save_interval,
            PayloadBucket(lambda: moto_patches.s3_of(REGION), stack.payload_bucket),
        )
        every = f"saved every {self._save_interval:.0f} s and on stop"
        if self._fresh:
            previous = folder.set_aside()
            kept = f"; the last save is kept as {previous}" if previous else ""
            log.info("data: %s (starting empty%s; %s)", folder.folder, kept, every)
        else:
            try:
                loaded = keeper.load()
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise DataUnreadable(
                    f"cannot load {folder.path}: {error}; start with --fresh to set it aside and start empty"
                ) from error
            _log_loaded(folder, loaded, every)
        return keeper

    def _start_pollers(self, session: boto3.session.Session, moto: _MotoServer) -> None:
        """The event sources: the stream into the runner (trimmed behind it), the failure queue into its handler."""
        from functions.failure_handler import app as failure_app
        from functions.task_runner import app as runner_app

        assert self.stack is not None
        sqs = session.client("sqs", endpoint_url=self.moto_url)
        cursor = StreamCursor(session.client("dynamodbstreams", endpoint_url=self.moto_url))
        table_name = self.stack.table_name
        self.retention = StreamRetention(
            cursor, lambda: moto_patches.table_of(table_name, REGION).stream_shard, moto.lock
        )
        self.pump = StreamPump(
            cursor,
            self.stack.stream_arn,
            _logged("TaskRunnerFunction", runner_app.lambda_handler),
            self.stack.spec.mapping,
            on_failure=_reported(sqs_failure_sink(sqs, self.stack.queue_url), self.retention),
        )
        failures = QueuePump(
            sqs,
            self.stack.queue_url,
            self.stack.queue_arn,
            _logged("FailureHandlerFunction", failure_app.lambda_handler),
            "FailureHandlerFunction",
            on_done=self.retention.unpin,
        )
        self._pollers = [
            Poller("stream-poller", TrimmingPump(self.pump, self.retention), self._poll_interval),
            Poller("failure-queue-poller", failures, max(self._poll_interval, 0.5)),
        ]
        if self.keeper is not None:
            self._pollers.append(Poller("data-saver", self.keeper, min(self._save_interval, 1.0)))
        for poller in self._pollers:
            poller.start()

    def _start_lambda(self, server: LambdaServer) -> None:
        names = self._functions.names()
        log.info("lambda: %d function(s) in %s: %s", len(names), self._functions.folder, ", ".join(names) or "(none)")
        self._lambda_thread = threading.Thread(target=server.serve_forever, name="lambda-server", daemon=True)
        self._lambda_thread.start()
        server.start_workers()

    def _spool_payloads(self) -> None:
        """S3 objects' bytes go to files (moto_patches 7.), not memory: in the data folder's `spool/` when there is
        one (the disk the user chose for the stack's data), else in a temporary folder; emptied on stop."""
        if self._data is not None:
            self._spool = self._data.folder / "spool"
        else:
            self._spool = Path(tempfile.mkdtemp(prefix="flow-manager-spool-"))
        moto_patches.spool_objects(self._spool)

    def _start_moto(self) -> _MotoServer:
        moto_patches.apply()
        moto = _MotoServer(self.host, self._moto_port)
        moto.start()
        if moto.error is not None:
            raise PortUnavailable(f"moto's server could not start on {self.host}:{self._moto_port}: {moto.error!r}")
        self._moto = moto
        # Step Functions runs state machines only when asked; the timer's DynamoDB task calls back into this
        # server, on the port MOTO_PORT names (5000 otherwise).
        self._saved_sfn_config = self._moto_config().get("stepfunctions")
        self._moto_config({"stepfunctions": {"execute_state_machine": True}})
        return moto

    def _moto_config(self, change: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(change).encode() if change is not None else None
        request = urllib.request.Request(
            f"{self.moto_url}/moto-api/config", data=data, method="POST" if data else "GET"
        )
        request.add_header("content-type", "application/json")
        with _DIRECT.open(request, timeout=10) as response:
            config: dict[str, Any] = json.load(response)
        return config

    def _aws_environment(self) -> dict[str, str | None]:
        # The handlers reach moto directly on whatever address it listens on (--host 172.17.0.1 for containers too),
        # not through a proxy the shell configures.
        no_proxy = ",".join(
            filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), _LOOPBACK, self.host])
        )
        overrides = [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
            "MOTO_PORT": str(self.moto_port),
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            **dict.fromkeys([*_UNSET, *overrides]),
            # botocore's service-specific endpoint wins over AWS_ENDPOINT_URL: Lambda here, the rest in moto.
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
        }

    def _set_environment(self, values: dict[str, str] | dict[str, str | None]) -> None:
        """Set (or, for None, remove) variables, remembering the first value of each for `stop()`."""
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def stop(self) -> None:
        """Stop taking requests, let the poller finish its batch, then stop moto. Safe to call twice."""
        if self._api is not None:
            if self._api_thread is not None:
                self._api.shutdown()
                self._api_thread.join()
            self._api.server_close()
            self._api = None
            self._api_thread = None
        for poller in self._pollers:
            poller.stop()
        self._pollers = []
        if self._lambda is not None:
            if self._lambda_thread is not None:
                self._lambda.stop()
                self._lambda_thread.join()
            else:
                self._lambda.server_close()
            self._lambda = None
            self._lambda_thread = None
        if self.keeper is not None:
            self._save_on_stop(self.keeper)
            self.keeper = None
        if self._moto is not None:
            self._stop_moto(self._moto)
            self._moto = None
        if self._spool is not None:
            moto_patches.spool_objects(None)
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
        self._restore_environment()
        if self._holds_process:
            self._holds_process = False
            LocalRuntime._running.release()

    def _restore_environment(self) -> None:
        if not self._saved_env:
            return
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        reset_containers()

    @staticmethod
    def _save_on_stop(keeper: Keeper) -> None:
        try:
            count = keeper.save()
        except Exception:  # the stop goes on: moto and the ports must be released whatever happens here
            log.exception("could not save the data to %s", keeper.folder.path)
        else:
            log.info("saved %d item(s) to %s", count, keeper.folder.path)

    def _stop_moto(self, moto: _MotoServer) -> None:
        try:  # leave the process's moto state as it was: the tests share it with in-process mocks
            self._moto_config({"stepfunctions": self._saved_sfn_config or {"execute_state_machine": False}})
            reset = urllib.request.Request(f"{self.moto_url}/moto-api/reset", data=b"", method="POST")
            _DIRECT.open(reset, timeout=10).close()
        except OSError as error:
            log.warning("could not reset moto before stopping it: %r", error)
        moto.stop()
