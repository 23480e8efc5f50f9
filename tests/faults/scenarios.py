"""The faults, one function each: given a fresh account (`tests.harness.Harness`), inject the fault around the
real handlers, check the final state against a fault-free run of the same flow, and return a one-line detail
(raising AssertionError when the service got it wrong).

Every scenario also checks the whole stream history with `audit_stream` (one committed result per attempt,
one successor per transition, nothing written after it ended) and that no execution is left non-terminal.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flowcore.adapters.dynamodb import keys
from flowcore.domain.tenancy import DEV_TENANT, scoped
from tests.faults import flows
from tests.faults.injection import (
    AFTER,
    BEFORE,
    THROTTLE_CODES,
    Record,
    StreamDriver,
    assert_same,
    audit_stream,
    execution_of,
    non_terminal,
    outcome,
    stream_records,
)
from tests.harness import Harness

Scenario = Callable[[Harness], str]


@dataclass(frozen=True)
class Fault:
    name: str
    run: Scenario


SCENARIOS: list[Fault] = []


def fault(name: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS.append(Fault(name, function))
        return function

    return register


def _settled(harness: Harness) -> str:
    """The checks every scenario ends with; a short summary of what the stream held."""
    stuck = non_terminal(harness)
    assert not stuck, f"executions left non-terminal: {stuck}"
    counts = audit_stream(harness)
    return f"{counts['executions']} executions, {counts['runs']} runs audited"


def app_reset() -> None:
    """A cold start of the runner's container (its flow cache is gone)."""
    from functions.task_runner import app

    app.reset()


def _baselines(driver: StreamDriver) -> dict[str, dict[str, Any]]:
    return {name: driver.baseline(make())[0] for name, make in flows.FLOWS.items()}


# -- redelivery and ordering ------------------------------------------------------------------------


@fault("every batch delivered twice")
def every_batch_delivered_twice(harness: Harness) -> str:
    driver = StreamDriver(harness)
    try:
        expected = _baselines(driver)
        driver.deliveries = 2
        started = {name: harness.start(make()) for name, make in flows.FLOWS.items()}
        driver.drain()
    finally:
        driver.close()
    for name, execution_id in started.items():
        assert_same(outcome(harness, execution_id), expected[name], name)
    return f"{len(started)} flows match their fault-free runs; {_settled(harness)}"


@fault("batches reordered across executions")
def batches_reordered_across_executions(harness: Harness) -> str:
    """Several executions run at once; each round, the records of a random subset of them are delivered in a
    random interleaving (each execution's own records stay in order) and random batch sizes."""
    driver = StreamDriver(harness)
    try:
        expected = _baselines(driver)
        seeds = range(4)
        started: list[tuple[str, str]] = []
        mixed = 0
        for seed in seeds:
            rng = random.Random(seed)
            ids = [(name, harness.start(make())) for name, make in flows.FLOWS.items() for _ in range(2)]
            started += ids
            mixed += _deliver_shuffled(driver, rng)
    finally:
        driver.close()
    for name, execution_id in started:
        assert_same(outcome(harness, execution_id), expected[name], f"{name} {execution_id[:8]}")
    return f"{len(started)} executions over {len(seeds)} seeds, {mixed} mixed batches; {_settled(harness)}"


def _deliver_shuffled(driver: StreamDriver, rng: random.Random) -> int:
    """Deliver until quiet in shuffled rounds; returns how many batches mixed several executions' records."""
    driver.hold = lambda _: True  # the mapping reads the records; this function decides when they arrive
    queues: dict[str, list[Record]] = {}
    mixed = 0
    try:
        while True:
            driver.drain()
            for record in driver.held:
                queues.setdefault(execution_of(record), []).append(record)
            driver.held.clear()
            waiting = [key for key, queue in queues.items() if queue]
            if not waiting:
                return mixed
            chosen = rng.sample(waiting, rng.randint(1, len(waiting)))
            lanes = [queues[key][: rng.randint(1, len(queues[key]))] for key in chosen]
            for key, lane in zip(chosen, lanes, strict=True):
                del queues[key][: len(lane)]
            order: list[Record] = []
            while any(lanes):
                lane = rng.choice([lane for lane in lanes if lane])
                order.append(lane.pop(0))
            while order:
                size = rng.randint(1, 4)
                batch, order = order[:size], order[size:]
                mixed += len({execution_of(record) for record in batch}) > 1
                response = driver.invoke(batch)
                assert not response.get("batchItemFailures"), f"a fault-free batch failed: {response}"
    finally:
        driver.hold = None


# -- process death at every call boundary ------------------------------------------------------------


@contextmanager
def _chain_tasks(count: int | None) -> Iterator[None]:
    """Runner containers started with CHAIN_TASKS=count (None: the default)."""
    from flowcore.settings import settings

    saved = os.environ.get("CHAIN_TASKS")
    if count is not None:
        os.environ["CHAIN_TASKS"] = str(count)
    settings.cache_clear()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CHAIN_TASKS", None)
        else:
            os.environ["CHAIN_TASKS"] = saved
        settings.cache_clear()


def _kill_everywhere(
    harness: Harness, make: Callable[[], dict[str, Any]], when: str, replay: bool, chain_tasks: int | None = None
) -> str:
    """Count the runner's calls in a fault-free run of the flow, then for k = 1..N run it again with the
    process killed {when} call k; the redelivery must converge to the fault-free outcome."""
    driver = StreamDriver(harness, replay=replay)
    with _chain_tasks(chain_tasks):
        return _kill_at_each_call(harness, driver, make, when, replay)


def _kill_at_each_call(
    harness: Harness, driver: StreamDriver, make: Callable[[], dict[str, Any]], when: str, replay: bool
) -> str:
    try:
        expected, calls = driver.baseline(make())
        assert calls > 0
        for number in range(1, calls + 1):
            app_reset()
            driver.faults.kill_at(number, when)
            deaths = driver.deaths
            execution_id = driver.run(make())
            assert driver.deaths == deaths + 1, f"no death {when} call {number} of {calls}"
            assert_same(outcome(harness, execution_id), expected, f"killed {when} call {number}/{calls}")
    finally:
        driver.close()
    how = "the execution's records replayed by a fresh mapping" if replay else "the batch redelivered"
    return f"{calls} deaths ({when} each of {calls} calls), {how}: all converged; {_settled(harness)}"


def _register_kills() -> None:
    for flow, make in (
        ("sample", flows.sample),
        ("fan-out", flows.fan_out),
        ("unequal join", flows.unequal_join),
        ("nested forks", flows.nested_forks),
    ):
        for replay in (False, True):
            for when in (BEFORE, AFTER):
                name = (
                    f"runner killed {when} each call, {'stream replayed' if replay else 'batch redelivered'} ({flow})"
                )

                def scenario(
                    harness: Harness, make: Callable[[], dict[str, Any]] = make, when: str = when, replay: bool = replay
                ) -> str:
                    return _kill_everywhere(harness, make, when, replay)

                fault(name)(scenario)
    # A chain that hands over: task1 and task2 in one invocation, task3 from the PENDING run it wrote.
    for when in (BEFORE, AFTER):

        def handed_over(harness: Harness, when: str = when) -> str:
            return _kill_everywhere(harness, flows.sample, when, replay=False, chain_tasks=2)

        fault(f"runner killed {when} each call, batch redelivered (sample, chain of 2)")(handed_over)


_register_kills()


# -- throttling ---------------------------------------------------------------------------------------


def _throttled(harness: Harness, code: str, times: int) -> str:
    driver = StreamDriver(harness)
    try:
        expected = _baselines(driver)
        started = {name: harness.start(make()) for name, make in flows.FLOWS.items()}
        driver.faults.throttle(code, times)
        driver.drain()
        driver.faults.stop_throttling()
    finally:
        driver.close()
    assert driver.failed_records > 0, "no record failed: the throttling was not seen"
    assert driver.pump.stats.batches_failed_over == 0, "a batch exhausted its retries"
    for name, execution_id in started.items():
        assert_same(outcome(harness, execution_id), expected[name], name)
    operations = ", ".join(
        f"{operation.split('.')[-1]} x{count}" for operation, count in driver.faults.throttled.items()
    )
    return f"{operations}: {driver.failed_records} record failures, retried; {_settled(harness)}"


@fault("ProvisionedThroughputExceeded on each operation")
def provisioned_throughput_exceeded(harness: Harness) -> str:
    return _throttled(harness, THROTTLE_CODES[0], times=2)


@fault("ThrottlingException on each operation")
def throttling_exception(harness: Harness) -> str:
    return _throttled(harness, THROTTLE_CODES[1], times=2)


@fault("throttled past the retry budget")
def throttled_past_the_retry_budget(harness: Harness) -> str:
    """Every runner call is refused: each batch exhausts its retries and goes to the OnFailure queue, whose
    handler fails its executions with the reason; none is left RUNNING."""
    driver = StreamDriver(harness)
    try:
        started = [harness.start(make()) for make in flows.FLOWS.values()]
        driver.faults.throttle(THROTTLE_CODES[0], times=1_000_000)
        driver.drain()
        driver.faults.stop_throttling()
    finally:
        driver.close()
    assert driver.pump.stats.batches_failed_over >= 1
    assert harness.failures.drain() == driver.pump.stats.batches_failed_over
    for execution_id in started:
        document = harness.status(execution_id)
        assert document["status"] == "FAILED", document["status"]
        assert "gave up on its start after 6 attempts" in (document["error"] or ""), document["error"]
    return (
        f"{driver.pump.stats.batches_failed_over} batch(es) failed over; {len(started)} executions FAILED "
        f"by the failure handler; {_settled(harness)}"
    )


@fault("refused from the second call of a chain on, past the retry budget")
def refused_mid_chain_past_the_retry_budget(harness: Harness) -> str:
    """The start task commits, then every call is refused until the batch fails over: the record fails with
    its own run committed. The failure handler must resume the path, not leave it RUNNING or fail it."""
    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(flows.sample())
        app_reset()  # a cold runner: the first delivery reads the flow version
        execution_id = harness.start(flows.sample())
        # Calls of the first delivery: GetItem execution, GetItem flow version, UpdateItem task1, then the chain.
        driver.faults.interleave = (len(driver.faults.calls) + 4, lambda: driver.faults.throttle_next(1_000_000))
        driver.drain()
        driver.faults.stop_throttling()
        committed = [item["sk"] for item in harness.items(execution_id) if keys.is_run_sk(item["sk"])]
        assert committed == ["RUN#000001#task1"], committed
        assert driver.pump.stats.batches_failed_over == 1
        assert harness.failures.drain() == 1  # the one failed batch
        assert harness.status(execution_id)["status"] == "RUNNING"  # resumed, not failed: task2 is PENDING
        driver.drain()  # the same mapping, past the failed batch: only the resumed run is new
    finally:
        driver.close()
    assert_same(outcome(harness, execution_id), expected, "resumed by the failure handler")
    return f"the start record failed over after task1 committed; resumed and COMPLETED; {_settled(harness)}"


# -- records that fail -----------------------------------------------------------------------------


def _corrupt_flow(harness: Harness, flow_id: str) -> None:
    """Make a flow's stored version unreadable: every dispatch of its executions fails, every time."""
    harness.dynamodb.update_item(
        TableName=harness.stack.table_name,
        Key={"pk": {"S": keys.flow_pk(scoped(DEV_TENANT, flow_id))}, "sk": {"S": keys.version_sk(1)}},
        UpdateExpression="SET #definition = :bad",
        ExpressionAttributeNames={"#definition": "definition"},
        ExpressionAttributeValues={":bad": {"S": "{not json"}},
    )


@fault("poison record in the middle of a batch")
def poison_record_in_the_middle_of_a_batch(harness: Harness) -> str:
    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(flows.sample())
        poisoned_flow = {**flows.sample(), "id": "poisoned"}
        healthy = harness.start(flows.sample())
        poisoned = harness.start(poisoned_flow)
        after = harness.start(flows.sample())
        _corrupt_flow(harness, "poisoned")
        app_reset()
        driver.drain()
    finally:
        driver.close()
    # The first delivery of the three starts: only the poisoned record is reported, by its sequence number
    batch = next(records for records, _ in driver.invocations if len(records) == 3)
    first = next(response for records, response in driver.invocations if records is batch)
    numbers = [execution_of(record) for record in batch]
    assert numbers == [keys.execution_pk(scoped(DEV_TENANT, e)) for e in (healthy, poisoned, after)], numbers
    reported = [failure["itemIdentifier"] for failure in first["batchItemFailures"]]
    assert reported == [batch[1]["dynamodb"]["SequenceNumber"]], reported
    assert driver.pump.stats.batches_failed_over == 1

    assert harness.failures.drain() == 1  # the real failure handler consumes the OnFailure message
    for execution_id in (healthy, after):
        assert_same(outcome(harness, execution_id), expected, execution_id[:8])
    document = harness.status(poisoned)
    assert document["status"] == "FAILED", document["status"]
    assert "gave up on its start" in (document["error"] or ""), document["error"]
    return f"only seq {reported[0][-6:]} reported; OnFailure -> FAILED ({document['error']}); {_settled(harness)}"


# -- races and late records ----------------------------------------------------------------------------


@fault("two branches race for the same join")
def two_branches_race_for_the_same_join(harness: Harness) -> str:
    """`a` is processed by one container; at each of its call boundaries in turn, another container processes
    `b` (same step, same successor `join`) to the end. One join run, the execution COMPLETED, 0 branches open."""
    from flowcore.adapters import clients
    from flowcore.adapters.dynamodb.values import plain
    from flowcore.adapters.stream import dispatch_of
    from flowcore.settings import settings
    from flowcore.wiring.runner import new_task_runner
    from flowcore.wiring.shared import Repositories

    def is_branch(record: Record) -> bool:
        return str(record["dynamodb"]["Keys"]["sk"]["S"]).startswith(keys.run_sk(2, ""))

    config = settings()
    other = new_task_runner(  # another container of the same function
        Repositories(clients.dynamodb(), config.table_name),
        clients.stepfunctions,
        config.timer_state_machine_arn,
    )
    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(flows.join_race())
        # how many calls `a` makes alone, once the flow is cached
        driver.hold = is_branch
        probe = harness.start(flows.join_race())
        driver.drain()
        a_record, b_record = driver.held
        driver.held.clear()
        before = len(driver.faults.calls)
        driver.invoke([a_record])
        calls = len(driver.faults.calls) - before
        driver.hold = None
        driver.invoke([b_record])
        driver.drain()
        assert_same(outcome(harness, probe), expected, "probe")
        for number in range(1, calls + 2):
            driver.hold = is_branch
            execution_id = harness.start(flows.join_race())
            driver.drain()
            driver.hold = None
            a_record, b_record = driver.held
            driver.held.clear()
            b_dispatch = dispatch_of(plain(b_record["dynamodb"]["NewImage"]))
            driver.faults.interleave = (
                len(driver.faults.calls) + number,
                lambda dispatch=b_dispatch: other.process(dispatch),
            )
            driver.invoke([a_record])  # past a's last call, b runs after a instead
            assert (driver.faults.interleave is None) == (number <= calls), f"b did not run at call {number}"
            driver.faults.interleave = None
            driver.invoke([b_record])  # b's own record still arrives: a duplicate by now
            driver.drain()
            assert_same(outcome(harness, execution_id), expected, f"b ran at a's call {number}/{calls}")
            items = harness.items(execution_id)
            assert [item["sk"] for item in items if str(item["sk"]).endswith("#join")] == ["RUN#000003#join"]
            meta = next(item for item in items if item["sk"] == "META")
            assert (meta["status"], meta["open_branches"]) == ("COMPLETED", 0), meta
    finally:
        driver.close()
    return f"b finished at each of a's {calls} call boundaries (and after): one join, COMPLETED; {_settled(harness)}"


@fault("late duplicates after the execution ended")
def late_duplicates_after_the_end(harness: Harness) -> str:
    driver = StreamDriver(harness)
    try:
        started = [driver.run(make()) for make in flows.FLOWS.values()]
        before = {execution_id: harness.items(execution_id) for execution_id in started}
        length = len(stream_records(harness))
        delivered = [record for records, _ in driver.invocations for record in records]
        for record in delivered:
            response = driver.invoke([record])
            assert not response["batchItemFailures"], response
        response = driver.invoke(list(reversed(delivered)))
        assert not response["batchItemFailures"], response
    finally:
        driver.close()
    for execution_id in started:
        assert harness.items(execution_id) == before[execution_id], f"{execution_id[:8]} changed"
    assert len(stream_records(harness)) == length, "a late duplicate wrote something"
    return f"{len(delivered)} old records re-delivered one by one and all at once: nothing written; {_settled(harness)}"


@fault("TTL expiry REMOVE records")
def ttl_expiry_remove_records(harness: Harness) -> str:
    from local.esm import passes

    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(flows.sample())
        finished = driver.run(flows.fan_out())
        running = harness.start(flows.sample())
        keys = [{"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}} for item in harness.items(finished)]
        for key in keys:  # what TTL deletion does to a finished execution's items
            harness.dynamodb.delete_item(TableName=harness.stack.table_name, Key=key)
        driver.drain()
    finally:
        driver.close()
    removes = [record for record in stream_records(harness) if record["eventName"] == "REMOVE"]
    assert len(removes) == len(keys)
    delivered = [record for records, _ in driver.invocations for record in records]
    assert not [record for record in delivered if record["eventName"] == "REMOVE"], "a REMOVE reached the runner"
    assert_same(outcome(harness, running), expected, "the execution running meanwhile")

    ttl = {
        **removes[0],
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    }
    assert not passes(harness.stack.spec.mapping.filters, ttl), "the FilterCriteria let a TTL REMOVE through"
    return f"{len(removes)} REMOVE records (and a TTL-marked one) filtered out, runner not invoked; {_settled(harness)}"


# -- limits -----------------------------------------------------------------------------------------


@fault("values over the item size limit, and over the payload limit")
def task_output_over_the_item_limit(harness: Harness) -> str:
    """A 100 KB output is kept in the payload store and the path goes on; a 10.8 MB value fails its task with
    its size, and the execution with it (no condition handles the failure)."""
    driver = StreamDriver(harness)
    try:
        kept = driver.run(flows.oversized_output())
        refused = driver.run(flows.over_payload_limit(), flows.BLOCK)
    finally:
        driver.close()
    document = harness.status(kept)
    assert document["status"] == "COMPLETED", document["status"]
    assert document["path"] == ["before", "big", "after"], document["path"]
    reference = document["task_results"]["big"]["output_ref"]
    assert reference["size"] > 100_000, reference
    document = harness.status(refused)
    assert document["status"] == "FAILED", document["status"]
    assert document["path"] == ["before", "huge"], document["path"]
    error = document["task_results"]["huge"]["error"] or ""
    assert error == "the task's input is 10,800,048 bytes; at most 10,485,760 bytes can be kept", error
    return f"COMPLETED with a {reference['size']:,}-byte output kept aside; FAILED: {error}; {_settled(harness)}"


# -- regressions: both failed before ed5ece6 ------------------------------------------------------------


@fault("poison record: the healthy records after it")
def poison_record_spares_the_healthy_records_after_it(harness: Harness) -> str:
    """The OnFailure message covers the batch from the poisoned record to its end, but with ReportBatchItemFailures
    the records after the poisoned one were processed, and committed, on every retry. The failure queue's consumer
    runs while the mapping moves on (here: before the rest of the stream is delivered) and must fail only what was
    never processed; it used to fail the healthy execution after the poison too ('gave up on its start' although
    its start task had SUCCEEDED, its next task then SKIPPED)."""
    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(flows.sample())
        healthy = harness.start(flows.sample())
        poisoned = harness.start({**flows.sample(), "id": "poisoned"})
        after = harness.start(flows.sample())
        _corrupt_flow(harness, "poisoned")
        app_reset()
        driver.pump.poll()  # the batch of the three starts: the poisoned one's retries run out, it fails over
        assert driver.pump.stats.batches_failed_over == 1
        assert harness.failures.drain() == 1  # the failure queue's consumer runs while the stream moves on
        driver.drain()
    finally:
        driver.close()
    for execution_id in (healthy, after):
        assert_same(outcome(harness, execution_id), expected, f"healthy execution {execution_id[:8]}")
    assert harness.status(poisoned)["status"] == "FAILED"
    return f"the execution after the poison COMPLETED, the poisoned one FAILED; {_settled(harness)}"


@fault("a branch reaching a join that already ran")
def a_branch_reaching_a_join_that_already_ran(harness: Harness) -> str:
    """No fault at all: split -> (fast, slow) -> join. `fast` creates join (seq 3), join runs and ends its branch
    (open_branches 2 -> 1) while `slow` is retried; `slow` then succeeds and finds join there. Its branch must
    end too: the runner used to take its non-transactional path once open_branches was 1, where the existing
    join made `put_successor` a no-op and the execution stayed RUNNING with open_branches 1 forever. (The
    property test found it through a throttled batch that put the records in this order.)"""
    driver = StreamDriver(harness)
    try:
        execution_id = driver.run(flows.late_join())
    finally:
        driver.close()
    document = harness.status(execution_id)
    assert (document["status"], document["path"]) == ("COMPLETED", ["split", "fast", "slow", "join"]), document
    meta = next(item for item in harness.items(execution_id) if item["sk"] == "META")
    assert meta["open_branches"] == 0, meta
    return f"COMPLETED, open_branches 0; {_settled(harness)}"


# -- runs that await a completion: callbacks and sub-flows -------------------------------------------------


def _waiting_run(harness: Harness, execution_id: str, task: str) -> dict[str, Any]:
    (item,) = [item for item in harness.items(execution_id) if str(item["sk"]).endswith(f"#{task}")]
    assert item["status"] == "WAITING", item
    return item


def _timer_fires(harness: Harness, item: dict[str, Any]) -> bool:
    """The timer state machine's `Expire` write, as statemachine/timer.asl.json makes it; whether it applied."""
    from botocore.exceptions import ClientError

    try:
        harness.dynamodb.update_item(
            TableName=harness.stack.table_name,
            Key={"pk": {"S": str(item["pk"])}, "sk": {"S": str(item["sk"])}},
            UpdateExpression="SET #status = :pending",
            ConditionExpression="#status = :waiting AND attempt = :current AND wait_until = :deadline",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pending": {"S": "PENDING"},
                ":waiting": {"S": "WAITING"},
                ":current": {"N": str(item["attempt"])},
                ":deadline": {"N": str(item["wait_until"])},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def _ticket(harness: Harness, execution_id: str, task: str) -> str:
    url: str = harness.status(execution_id)["task_results"][task]["callback"]["url"]
    return url


@fault("a callback racing its deadline, in both orders and at once")
def a_callback_racing_its_deadline(harness: Harness) -> str:
    """The callback and the timer's expiry are each one conditional write on the WAITING run: whichever lands
    first decides, the other changes nothing, and the run commits exactly one result."""
    from concurrent.futures import ThreadPoolExecutor

    driver = StreamDriver(harness)
    outcomes: list[str] = []
    try:
        for order in ("callback first", "timer first", "at once", "at once", "at once"):
            execution_id = driver.run(flows.approval())
            item, url = _waiting_run(harness, execution_id, "approve"), _ticket(harness, execution_id, "approve")

            def callback(url: str = url) -> int:
                return int(harness.request("POST", url, {"outcome": "success", "output": {"by": "ana"}}).status)

            if order == "callback first":
                answered, fired = callback(), _timer_fires(harness, item)
            elif order == "timer first":
                fired, answered = _timer_fires(harness, item), callback()
            else:
                with ThreadPoolExecutor(2) as pool:
                    answer, timer = pool.submit(callback), pool.submit(_timer_fires, harness, item)
                    answered, fired = answer.result(), timer.result()
            driver.drain()
            document = harness.status(execution_id)
            assert (answered == 200) != fired, f"{order}: callback {answered}, timer applied {fired}"
            path = ["approve", "done"] if answered == 200 else ["approve", "rejected"]
            assert (document["status"], document["path"]) == ("COMPLETED", path), (order, document["path"])
            outcomes.append("callback" if answered == 200 else "timer")
    finally:
        driver.close()
    return f"won by {', '.join(outcomes)}: one result each; {_settled(harness)}"


@fault("the same callback many times at once, and a different one")
def duplicated_callbacks(harness: Harness) -> str:
    from concurrent.futures import ThreadPoolExecutor

    driver = StreamDriver(harness)
    try:
        execution_id = driver.run(flows.approval())
        url = _ticket(harness, execution_id, "approve")
        bodies = [{"outcome": "success", "output": {"by": "ana"}}] * 6 + [{"outcome": "failure", "error": "no"}] * 2
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda body: harness.request("POST", url, body), bodies))
        driver.deliveries = 2  # and the completion's record delivered twice
        driver.drain()
    finally:
        driver.close()
    same = [answer.json() for answer in answers[:6]]
    statuses = sorted(int(answer.status) for answer in answers)
    assert all(body == same[0] for body in same), same
    assert statuses == [200] * 6 + [409] * 2, statuses
    document = harness.status(execution_id)
    assert document["path"] == ["approve", "done"] and document["status"] == "COMPLETED", document["path"]
    return f"6 x 200 with one answer, 2 x 409; {_settled(harness)}"


@fault("an sqs hand-off whose record is delivered again after it was sent")
def redelivered_after_the_hand_off(harness: Harness) -> str:
    """The record that parked the run and sent its token is delivered twice (and replayed): the second delivery
    finds the run WAITING and sends nothing; the token in the one message sent completes it."""
    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="fault-callbacks")["QueueUrl"]
    driver = StreamDriver(harness)
    try:
        driver.deliveries = 3
        execution_id = driver.run(flows.queued_callback(queue_url))
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = received.get("Messages", [])
        assert len(messages) == 1, f"{len(messages)} messages sent"
        token = messages[0]["MessageAttributes"]["task_token"]["StringValue"]
        answer = harness.request("POST", f"/callbacks/{token}", {"outcome": "success", "output": {"ok": True}})
        assert answer.status == 200, answer.json()
        driver.drain()
    finally:
        driver.close()
    document = harness.status(execution_id)
    assert (document["status"], document["path"]) == ("COMPLETED", ["ask", "done"]), document
    return f"1 message for 3 deliveries, completed by its token; {_settled(harness)}"


@fault("a child ending while its parent's records are delivered again")
def a_child_ending_while_its_parent_is_redelivered(harness: Harness) -> str:
    """Every record twice, and the child's end held back until the parent's parking record was delivered again:
    one child, the parent's run completed once, the same final state as a fault-free run."""
    child, parent = flows.parent_of("redelivered-child")
    assert harness.request("POST", "/flows", child).status in (200, 201)
    driver = StreamDriver(harness)
    try:
        expected, _ = driver.baseline(parent)
        driver.deliveries = 2
        driver.hold = lambda record: (
            record["eventName"] == "MODIFY"
            and "parent_id" in record["dynamodb"].get("NewImage", {})
            and record["dynamodb"]["NewImage"]["status"]["S"] != "RUNNING"
        )
        execution_id = driver.run(parent)
        ends = list(driver.held)
        assert len(ends) == 1, f"{len(ends)} child ends held"
        parked = [records for records, _ in driver.invocations if any(_is_parking(record) for record in records)]
        driver.hold = None
        for records in parked[-1:]:
            driver.invoke(records)  # the parent's parking record again, after the child ended
        for _ in range(2):
            driver.invoke(ends)  # the child's end, twice
        driver.drain()
    finally:
        driver.close()
    assert_same(_child_ids_masked(outcome(harness, execution_id)), _child_ids_masked(expected), "parent")
    children = [item for item in _execution_items(harness) if item.get("parent_id") == f"{DEV_TENANT}/{execution_id}"]
    assert len(children) == 1, f"{len(children)} children"
    return f"one child, the parent COMPLETED as without faults; {_settled(harness)}"


def _child_ids_masked(found: dict[str, Any]) -> Any:
    """An outcome with child execution ids (derived from their parent's, so never the same twice) masked."""
    import json
    import re

    return json.loads(re.sub(r"sub-[0-9a-f]{40}", "sub-<child>", json.dumps(found, default=str)))


def _is_parking(record: Record) -> bool:
    image = record["dynamodb"].get("NewImage", {})
    return str(image.get("sk", {}).get("S", "")).endswith("#call") or image.get("sk", {}).get("S") == "META"


def _execution_items(harness: Harness) -> list[dict[str, Any]]:
    from flowcore.adapters.dynamodb.values import plain

    pages = harness.dynamodb.get_paginator("scan").paginate(TableName=harness.stack.table_name)
    return [plain(item) for page in pages for item in page["Items"] if item["sk"]["S"] == keys.META]
