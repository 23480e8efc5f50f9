"""Stateful property test: executions started, delivered, duplicated, reordered, crashed and throttled in any
order keep the exactly-once rules, and a drained stream leaves no execution RUNNING.

The state machine plays Lambda's event source mapping itself: it reads the stream into a queue and decides
what reaches the REAL task runner, and when. One moto account per example (built in `__init__`, torn down
in `teardown`), not per step.
"""

from __future__ import annotations

import functools
import random
from contextlib import ExitStack
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.faults import flows
from tests.faults.injection import (
    AFTER,
    BEFORE,
    TERMINAL_EXECUTION,
    TERMINAL_RUN,
    Killed,
    Record,
    StreamDriver,
    assert_same,
    audit_stream,
    execution_of,
    outcome,
)
from tests.harness import Harness, local_account, on_fresh_stack

#: A linear flow; parallel branches with an inline retry and a join; a slower branch reaching the join late;
#: a branch failing unhandled while the other goes on; branches of unequal length meeting; nested forks.
PROPERTY_FLOWS = {
    "sample": flows.sample,
    "fan-out": flows.fan_out,
    "late-join": flows.late_join,
    "failing-branch": flows.failing_branch,
    "unequal-join": flows.unequal_join,
    "nested-forks": flows.nested_forks,
}
FLOW_NAMES = sorted(PROPERTY_FLOWS)
MAX_EXECUTIONS = 4
SETTINGS = settings(max_examples=15, stateful_step_count=20, deadline=None)


@functools.cache
def fault_free_outcomes() -> dict[str, dict[str, Any]]:
    """Each flow's outcome without faults, from an account of its own (outcomes hold no ids or times)."""
    with local_account() as harness:
        driver = StreamDriver(harness)
        try:
            return {name: driver.baseline(PROPERTY_FLOWS[name]())[0] for name in FLOW_NAMES}
        finally:
            driver.close()


class ExactlyOnce(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.expected = fault_free_outcomes()
        self._resources = ExitStack()
        self.harness: Harness = self._resources.enter_context(local_account())
        self.driver = StreamDriver(self.harness)
        self._resources.callback(self.driver.close)
        self.driver.hold = lambda _: True  # the mapping only reads; the rules decide what is delivered when
        self.pending: list[Record] = []  # read from the stream, not yet delivered successfully, in order
        self.delivered: list[Record] = []
        self.started: dict[str, str] = {}  # execution id -> flow name
        self.crash: tuple[int, str] | None = None
        # what has been observed, to check that it only ever moves the allowed way
        self.statuses: dict[str, list[str]] = {}
        self.attempts: dict[tuple[str, str], int] = {}
        self.results: dict[tuple[str, str], dict[str, Any]] = {}

    def teardown(self) -> None:
        try:
            self._drain_without_faults()
            items = self._scan()
            running = [item["execution_id"] for item in items if item["sk"] == "META" and item["status"] == "RUNNING"]
            assert not running, f"executions still RUNNING after the stream was drained: {running}"
            audit_stream(self.harness)
            for execution_id, name in self.started.items():
                event(f"{name} ended {self.harness.status(execution_id)['status']}")
                assert_same(outcome(self.harness, execution_id), self.expected[name], f"{name} {execution_id[:8]}")
        finally:
            self._resources.close()

    # -- the mapping ------------------------------------------------------------------------------

    def _read(self) -> None:
        self.driver.drain()
        self.pending += self.driver.held
        self.driver.held.clear()

    def _deliver(self, batch: list[Record]) -> None:
        """One invocation with `batch`; what it did not process is put back first in line, as the mapping does."""
        if not batch:
            return
        kill, self.crash = self.crash, None
        if kill is not None:
            self.driver.faults.kill_at(*kill)
        try:
            response = self.driver.invoke(batch)
        except Killed:
            from functions.task_runner import app

            event("runner killed")
            app.reset()  # a dead container: the retry is a cold start
            failed_from = 0
        except Exception:  # noqa: BLE001 - every record failed: a function error, the batch is retried
            event("batch failed")
            failed_from = 0
        else:
            numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
            failed = [numbers.index(item["itemIdentifier"]) for item in response.get("batchItemFailures", [])]
            failed_from = min(failed) if failed else len(batch)
        finally:
            self.driver.faults.kill = None
        self.delivered += batch[:failed_from]
        self.pending = [record for record in batch[failed_from:] if record not in self.pending] + self.pending

    def _drain_without_faults(self) -> None:
        self.crash = None
        self.driver.faults.stop_throttling()
        for _ in range(1000):
            self._read()
            if not self.pending:
                return
            batch, self.pending = self.pending[:10], self.pending[10:]
            self._deliver(batch)
        raise AssertionError("the stream never went quiet")

    # -- rules ------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.started) < MAX_EXECUTIONS)
    @rule(name=st.sampled_from(FLOW_NAMES))
    def start(self, name: str) -> None:
        self.started[self.harness.start(PROPERTY_FLOWS[name]())] = name
        self._read()

    @rule(size=st.integers(min_value=1, max_value=4))
    def deliver(self, size: int) -> None:
        self._read()
        batch, self.pending = self.pending[:size], self.pending[size:]
        self._deliver(batch)
        self._read()

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        record = data.draw(st.sampled_from(self.delivered), label="earlier record")
        self._deliver([record])
        self._read()

    @rule(seed=st.integers(min_value=0, max_value=2**16), size=st.integers(min_value=1, max_value=4))
    def reorder(self, seed: int, size: int) -> None:
        """Deliver the queue in another interleaving of the executions; each one's own records stay in order."""
        self._read()
        lanes: dict[str, list[Record]] = {}
        for record in self.pending:
            lanes.setdefault(execution_of(record), []).append(record)
        rng = random.Random(seed)
        order: list[Record] = []
        while any(lanes.values()):
            lane = rng.choice([lane for lane in lanes.values() if lane])
            order.append(lane.pop(0))
        batch, self.pending = order[:size], order[size:]
        self._deliver(batch)
        self._read()

    @rule(number=st.integers(min_value=1, max_value=4), when=st.sampled_from([BEFORE, AFTER]))
    def crash_next_delivery(self, number: int, when: str) -> None:
        self.crash = (number, when)

    @rule(times=st.integers(min_value=1, max_value=3))
    def throttle(self, times: int) -> None:
        self.driver.faults.throttle_next(times)

    # -- invariants -------------------------------------------------------------------------------

    def _scan(self) -> list[dict[str, Any]]:
        from flowcore.adapters.dynamodb import keys
        from flowcore.adapters.dynamodb.values import plain

        pages = self.harness.dynamodb.get_paginator("scan").paginate(TableName=self.harness.stack.table_name)
        items = [plain(item) for page in pages for item in page["Items"]]
        return [item for item in items if keys.is_execution_pk(str(item["pk"]))]

    @invariant()
    def observed_state_only_moves_forward(self) -> None:
        from flowcore.adapters.dynamodb import keys

        for item in self._scan():
            execution_id = keys.execution_id_of(str(item["pk"]))
            if item["sk"] == "META":
                seen = self.statuses.setdefault(execution_id, [])
                if seen and seen[-1] in TERMINAL_EXECUTION:
                    assert item["status"] == seen[-1], f"{execution_id[:8]} was {seen[-1]}, now {item['status']}"
                if not seen or seen[-1] != item["status"]:
                    seen.append(item["status"])
                continue
            key = (execution_id, str(item["sk"]))
            attempt = int(item.get("attempt", 1))
            assert attempt >= self.attempts.get(key, 0), f"{key}: attempt went down to {attempt}"
            self.attempts[key] = attempt
            if item["status"] in TERMINAL_RUN:
                result = {name: item.get(name) for name in ("status", "attempt", "output", "error", "ended_at")}
                first = self.results.setdefault(key, result)
                assert result == first, f"{key}: a committed result changed from {first} to {result}"

    @invariant()
    def at_most_one_terminal_status(self) -> None:
        for execution_id, seen in self.statuses.items():
            terminal = [status for status in seen if status in TERMINAL_EXECUTION]
            assert len(terminal) <= 1, f"{execution_id[:8]} went through {seen}"

    @precondition(lambda self: not self.pending)
    @invariant()
    def a_quiet_stream_leaves_nothing_running(self) -> None:
        """Nothing left to deliver (`_read` ran at the end of every rule): every execution has ended."""
        items = self._scan()
        running = [item["execution_id"] for item in items if item["sk"] == "META" and item["status"] == "RUNNING"]
        assert not running, f"nothing left to deliver, yet RUNNING: {running}"


def test_faults_in_any_order_keep_exactly_once() -> None:
    on_fresh_stack(lambda: run_state_machine_as_test(ExactlyOnce, settings=SETTINGS))
