"""The machinery of the fault suite: botocore event hooks on the runner's clients, a stream driver that
behaves like Lambda's event source mapping around a runner that can die, and the checks of the final state."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local.streams import StreamCursor
from tests.harness import Harness

Record = dict[str, Any]
Response = dict[str, Any]

BEFORE = "before"
AFTER = "after"
TERMINAL_RUN = frozenset({"SUCCESS", "FAILURE", "SKIPPED"})
TERMINAL_EXECUTION = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")


def execution_of(record: Record) -> str:
    """The execution (its partition key) a stream record belongs to."""
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


class Killed(BaseException):
    """The runner's process dying: not an `Exception`, so nothing in the runner or in powertools catches it."""


class AwsFaults:
    """Counts the calls the runner's clients make while armed, and injects faults at chosen ones.

    `kill = (k, BEFORE)` kills the process before call k is sent; `(k, AFTER)` right after it returned.
    `throttle(code, n)` fails the first n calls of each operation with a throttling error, `throttle_next(n)`
    the next n calls. `interleave` runs a callback before call k (another container acting at that moment).
    Kills and interleavings fire once.
    """

    def __init__(self, clients: Sequence[Any]) -> None:
        self.armed = False
        self.calls: list[str] = []
        self.kill: tuple[int, str] | None = None
        self.interleave: tuple[int, Callable[[], object]] | None = None
        self.throttled: Counter[str] = Counter()
        self._throttle: tuple[str, int] | None = None
        self._throttle_next: tuple[str, int] | None = None
        self._hooks: list[tuple[Any, str, Callable[..., None]]] = []
        for client in clients:
            service = client.meta.service_model.service_id.hyphenize()
            for event, hook in ((f"before-call.{service}", self._before), (f"after-call.{service}", self._after)):
                client.meta.events.register(event, hook)
                self._hooks.append((client, event, hook))

    def close(self) -> None:
        for client, event, hook in self._hooks:
            client.meta.events.unregister(event, hook)
        self._hooks.clear()

    def kill_at(self, number: int, when: str) -> None:
        """Kill the process at the runner's `number`-th call from now."""
        self.kill = (len(self.calls) + number, when)

    def throttle(self, code: str, times: int) -> None:
        self._throttle = (code, times)
        self.throttled.clear()

    def throttle_next(self, times: int, code: str = THROTTLE_CODES[0]) -> None:
        """Refuse the next `times` calls, whatever their operation."""
        self._throttle_next = (code, times)

    def stop_throttling(self) -> None:
        self._throttle = None
        self._throttle_next = None

    def _before(self, model: Any, event_name: str, **_: Any) -> None:
        if not self.armed:
            return
        operation = event_name.removeprefix("before-call.")
        if self._throttle_next is not None and self._throttle_next[1] > 0:
            code, left = self._throttle_next
            self._throttle_next = (code, left - 1)
            self.throttled[operation] += 1
            raise ClientError({"Error": {"Code": code, "Message": "injected: rate exceeded"}}, model.name)
        if self._throttle is not None:
            code, times = self._throttle
            if self.throttled[operation] < times:
                self.throttled[operation] += 1
                raise ClientError({"Error": {"Code": code, "Message": "injected: rate exceeded"}}, model.name)
        self.calls.append(operation)
        number = len(self.calls)
        if self.interleave is not None and self.interleave[0] == number:
            callback = self.interleave[1]
            self.interleave = None
            armed, self.armed = self.armed, False
            try:
                callback()
            finally:
                self.armed = armed
        if self.kill == (number, BEFORE):
            self.kill = None
            raise Killed(f"before call {number} ({operation})")

    def _after(self, event_name: str, **_: Any) -> None:
        if not self.armed:
            return
        number = len(self.calls)
        if self.kill == (number, AFTER):
            self.kill = None
            raise Killed(f"after call {number} ({event_name.removeprefix('after-call.')})")


class StreamDriver:
    """The task runner's event source mapping (a `StreamPump` from the stream's start) around the REAL
    `functions.task_runner.app.lambda_handler`, with the faults of `self.faults` armed during each call.

    A `Killed` runner is a dead container: the next invocation is a cold start, and the batch it died in is
    delivered again, either by resuming the mapping at that batch's first record (`replay=False`, what Lambda
    does) or by a fresh mapping that replays the stream from the first record of the current `run`
    (`replay=True`): every record of the execution, processed or not, is delivered again. (Replaying from the
    stream's very start would redeliver every earlier run's records too; the late-duplicates fault covers
    those, and the history would make each death cost more than the last.)
    """

    def __init__(self, harness: Harness, replay: bool = False) -> None:
        from flowcore.adapters import clients

        self.harness = harness
        self.replay = replay
        self.faults = AwsFaults([clients.dynamodb(), clients.stepfunctions()])
        self.deliveries = 1  # how many times the runner is invoked with each batch
        self.hold: Callable[[Record], bool] | None = None
        self.held: list[Record] = []
        self.invocations: list[tuple[list[Record], Response]] = []
        self.deaths = 0
        self.failed_records = 0  # records the runner reported failed (or that were in a batch that raised)
        self._in_flight: list[Record] | None = None
        self._run_start: str | None = None
        self._streams = StreamCursor(boto3.client("dynamodbstreams"))
        self.pump = harness.stream_pump(self._deliver, self._streams)

    def close(self) -> None:
        self.faults.close()

    # -- delivery ---------------------------------------------------------------------------------

    def invoke(self, records: list[Record]) -> Response:
        """Invoke the real runner once with `records` as one batch, faults armed; its partial batch response."""
        from functions.task_runner import app
        from local.esm import LambdaContext

        context: Any = LambdaContext("TaskRunnerFunction")  # the attributes powertools reads, not its class
        self.faults.armed = True
        try:
            response: Response = dict(app.lambda_handler({"Records": records}, context))
        except Exception:
            # Every record failed (powertools raises then): the mapping sees a function error
            self.failed_records += len(records)
            raise
        finally:
            self.faults.armed = False
        self.failed_records += len(response.get("batchItemFailures") or [])
        self.invocations.append((records, response))
        return response

    def _deliver(self, event: dict[str, Any], context: Any) -> Response:
        records: list[Record] = event["Records"]
        if self.hold is not None:
            self.held += [record for record in records if self.hold(record)]
            records = [record for record in records if not self.hold(record)]
            if not records:
                return {"batchItemFailures": []}
        self._in_flight = records
        response: Response = {"batchItemFailures": []}
        for _ in range(self.deliveries):
            response = self.invoke(records)
        self._in_flight = None
        return response

    def drain(self) -> None:
        """Deliver until the stream is quiet; a death is followed by the redelivery of the batch it hit."""
        while True:
            try:
                self.pump.drain()
            except Killed:
                self.deaths += 1
                self._restart()
            else:
                return

    def _restart(self) -> None:
        from functions.task_runner import app

        app.reset()  # the container died with whatever it had cached
        batch, self._in_flight = self._in_flight, None
        if self.replay or not batch:
            self._streams = StreamCursor(boto3.client("dynamodbstreams"), start=self._run_start)
            self.pump = self.harness.stream_pump(self._deliver, self._streams)
        else:
            self._streams.rewind(batch[0]["dynamodb"]["SequenceNumber"])

    # -- runs -------------------------------------------------------------------------------------

    def run(self, definition: dict[str, Any], execution_input: dict[str, Any] | None = None) -> str:
        """Start `definition` through the API and deliver until the stream is quiet; the execution id."""
        self.drain()
        self._run_start = self._streams.position()
        execution_id = self.harness.start(definition, execution_input)
        self.drain()
        return execution_id

    def baseline(self, definition: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """A fault-free run from a cold start: its outcome and how many AWS calls the runner made."""
        from functions.task_runner import app

        app.reset()
        before = len(self.faults.calls)
        execution_id = self.run(definition)
        return outcome(self.harness, execution_id), len(self.faults.calls) - before


# -- the final state ------------------------------------------------------------------------------

_VOLATILE = frozenset({"execution_id", "created_at", "started_at", "ended_at", "links"})
_VOLATILE_RESULT = frozenset({"execution_time", "started_at", "ended_at", "timestamp"})


def outcome(harness: Harness, execution_id: str) -> dict[str, Any]:
    """What must not depend on faults: the status document minus timestamps, durations and ids, every run
    item's status, attempt and result, and the execution's branch bookkeeping."""
    from flowcore.adapters.dynamodb import keys

    document = {key: value for key, value in harness.status(execution_id).items() if key not in _VOLATILE}
    document["task_results"] = {
        name: {key: value for key, value in result.items() if key not in _VOLATILE_RESULT}
        for name, result in document["task_results"].items()
    }
    items = harness.items(execution_id)
    runs = [
        {
            "sk": item["sk"],
            "status": item["status"],
            "attempt": int(item.get("attempt", 1)),
            "output": item.get("output"),
            "error": item.get("error"),
            "message": item.get("message"),
        }
        for item in sorted(items, key=lambda item: str(item["sk"]))
        if keys.is_run_sk(str(item["sk"]))
    ]
    meta = next((item for item in items if item["sk"] == "META"), {})
    execution = {key: meta.get(key) for key in ("status", "open_branches", "failed", "error")}
    return {"document": document, "runs": runs, "execution": execution}


def differences(actual: Any, expected: Any, where: str = "") -> Iterator[str]:
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(set(actual) | set(expected), key=str):
            yield from differences(actual.get(key), expected.get(key), f"{where}.{key}")
    elif isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            yield from differences(left, right, f"{where}[{index}]")
    elif actual != expected:
        left, right = (json.dumps(value, default=str)[:200] for value in (actual, expected))
        yield f"{where or 'value'}: {left} != {right}"


def assert_same(actual: dict[str, Any], expected: dict[str, Any], label: str) -> None:
    """Fail with the first few differing fields when `actual` is not `expected`."""
    found = list(differences(actual, expected))
    if found:
        raise AssertionError(f"{label}: differs from the fault-free run: " + "; ".join(found[:4]))


def stream_records(harness: Harness) -> list[Record]:
    """Every record of the table's stream, from its start."""
    streams = boto3.client("dynamodbstreams")
    arn = harness.stack.stream_arn
    records: list[Record] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page: Any = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def _ended_attempt(old: dict[str, Any] | None, new: dict[str, Any]) -> int | None:
    """The attempt whose result this write committed, if it committed one.

    A result is SUCCESS or FAILURE, a WAITING run holding an error (a retry the timer will re-dispatch), or a
    run handed back PENDING at the next attempt (an inline retry); claims, parks, re-dispatches and reclaims
    commit none.
    """
    status, attempt = new.get("status"), int(new.get("attempt", 1))
    before = old.get("status") if old else None
    if status in ("SUCCESS", "FAILURE") and before not in ("SUCCESS", "FAILURE"):
        return attempt
    if status == "WAITING" and new.get("error") and (before != "WAITING" or int(old.get("attempt", 1)) != attempt):  # type: ignore[union-attr]
        return attempt
    if status == "PENDING" and old and before in ("PENDING", "RUNNING") and attempt == int(old.get("attempt", 1)) + 1:
        return attempt - 1
    return None


def audit_stream(harness: Harness) -> dict[str, int]:
    """Check the history of every item against the exactly-once rules; returns a few counts.

    - a run item is created once (one successor per transition) and its attempt never goes down;
    - each attempt of a run commits at most one result, and every attempt of a finished run exactly one;
    - a run or an execution that reached a terminal status is never written again.
    """
    from flowcore.adapters.dynamodb import keys
    from flowcore.adapters.dynamodb.values import plain
    from flowcore.domain import tenancy

    histories: dict[tuple[str, str], list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]] = defaultdict(list)
    for record in stream_records(harness):
        change = record["dynamodb"]
        old = plain(change["OldImage"]) if "OldImage" in change else None
        new = plain(change["NewImage"]) if "NewImage" in change else None
        key = plain(change["Keys"])
        histories[(str(key["pk"]), str(key["sk"]))].append((record["eventName"], old, new))

    problems: list[str] = []
    runs = executions = 0
    for (pk, sk), history in histories.items():
        if not keys.is_execution_pk(pk):
            continue  # flows, idempotency keys and quota counters follow no run's or execution's rules
        name = f"{tenancy.shown(keys.execution_id_of(pk))[:8]}/{sk}"
        if keys.is_run_sk(sk):
            runs += 1
            problems += _audit_run(name, history)
        elif sk == keys.META:
            executions += 1
            problems += _audit_execution(name, history)
    if problems:
        raise AssertionError("the stream history breaks the exactly-once rules: " + "; ".join(problems[:5]))
    return {"runs": runs, "executions": executions}


def _audit_run(name: str, history: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]) -> list[str]:
    problems: list[str] = []
    # moto writes an item an UpdateItem creates as two INSERT records, the first holding only the keys
    inserts = sum(1 for event, _, new in history if event == "INSERT" and new is not None and "status" in new)
    if inserts > 1:
        problems.append(f"{name} created {inserts} times")
    results: Counter[int] = Counter()
    attempt, terminal = 0, None
    for event, old, new in history:
        if new is None:
            continue  # removed (deleted with its execution, or expired)
        if terminal is not None:
            problems.append(f"{name} written ({new.get('status')}) after it ended {terminal}")
        current = int(new.get("attempt", 1))
        if current < attempt:
            problems.append(f"{name} attempt went from {attempt} down to {current}")
        attempt = max(attempt, current)
        ended = _ended_attempt(old if event == "MODIFY" else None, new)
        if ended is not None:
            results[ended] += 1
        if new.get("status") in TERMINAL_RUN:
            terminal = new.get("status")
    problems += [f"{name} attempt {number} committed {count} results" for number, count in results.items() if count > 1]
    final = next((new for _, _, new in reversed(history) if new is not None), None)
    if final is not None and final.get("status") in ("SUCCESS", "FAILURE") and final.get("duration_ms") is not None:
        missing = [number for number in range(1, int(final.get("attempt", 1)) + 1) if results[number] != 1]
        if missing:
            problems.append(f"{name} attempts {missing} of a finished run did not commit exactly one result")
    return problems


def _audit_execution(name: str, history: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]) -> list[str]:
    problems: list[str] = []
    terminal = None
    for _, _, new in history:
        if new is None:
            continue
        if terminal is not None:
            problems.append(f"execution {name} written ({new.get('status')}) after it ended {terminal}")
        if new.get("status") in TERMINAL_EXECUTION:
            terminal = new.get("status")
    return problems


def non_terminal(harness: Harness) -> list[str]:
    """Executions in the table still CREATED or RUNNING."""
    from flowcore.adapters.dynamodb.values import plain

    pages = harness.dynamodb.get_paginator("scan").paginate(TableName=harness.stack.table_name)
    return [
        str(item["execution_id"])
        for page in pages
        for item in map(plain, page["Items"])
        if item["sk"] == "META" and item["status"] in ("CREATED", "RUNNING")
    ]
