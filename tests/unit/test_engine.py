"""The routing rules of DESIGN §3 as the pure engine applies them."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.api.models import FlowDefinition
from flowcore.domain.compiled import CompiledFlow
from flowcore.domain.expressions import ExpressionError
from flowcore.domain.flow import RetryPolicy
from flowcore.domain.records import RunRef, TaskResult
from flowcore.domain.routing import Decision, decide, next_tasks, retry_delay
from flowcore.domain.statuses import TaskStatus

SUCCESS = TaskResult(status=TaskStatus.SUCCESS, output={})
FAILURE = TaskResult(status=TaskStatus.FAILURE, error="boom")


def compile_flow(tasks: list[Any], conditions: list[dict[str, Any]] | None = None, **extra: Any) -> CompiledFlow:
    """Tasks given as names or full task dicts; the first task is the start task."""
    task_docs = [{"name": task} if isinstance(task, str) else task for task in tasks]
    document: dict[str, Any] = {"name": "flow", "start_task": task_docs[0]["name"], "tasks": task_docs, **extra}
    if conditions is not None:
        document["conditions"] = conditions
    return CompiledFlow.build("f", 1, FlowDefinition.model_validate(document).spec())


def condition(
    source: str, outcome: str = "success", on_match: str | None = "end", otherwise: str | None = "end", **extra: Any
) -> dict[str, Any]:
    return {
        "source_task": source,
        "outcome": outcome,
        "target_task_success": on_match,
        "target_task_failure": otherwise,
        **extra,
    }


def run_of(task: str, seq: int = 1) -> RunRef:
    return RunRef("exec-1", seq, task)


def successor_names(decision: Decision) -> tuple[str, ...]:
    return tuple(ref.task_name for ref in decision.successors)


# Conditions naming the task


def test_success_matching_a_success_condition_picks_target_task_success() -> None:
    # Given a condition on `a` for outcome success
    flow = compile_flow(["a", "ok", "ko"], [condition("a", "success", "ok", "ko")])
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then the success target follows, handled
    assert successor_names(decision) == ("ok",)
    assert not decision.unhandled_failure
    assert not decision.limit_exceeded


def test_failure_against_a_success_condition_picks_target_task_failure() -> None:
    # Given a condition on `a` for outcome success
    flow = compile_flow(["a", "ok", "ko"], [condition("a", "success", "ok", "ko")])
    # When `a` fails
    decision = decide(flow, run_of("a"), 1, FAILURE)
    # Then the failure target follows and the failure counts as handled
    assert successor_names(decision) == ("ko",)
    assert not decision.unhandled_failure
    assert decision.reason is None


def test_failure_outcome_condition_routes_a_failure_to_the_recovery_task() -> None:
    # Given a condition sending failures of `a` to `recover`
    flow = compile_flow(["a", "next", "recover"], [condition("a", "failure", "recover", "next")])
    # When `a` fails
    decision = decide(flow, run_of("a"), 1, FAILURE)
    # Then the recovery task runs and the failure is handled
    assert successor_names(decision) == ("recover",)
    assert decision.unhandled_failure is False
    assert not decision.ends_branch


def test_failure_outcome_inverts_the_match_for_a_success() -> None:
    # Given a condition on `a` for outcome failure
    flow = compile_flow(["a", "next", "recover"], [condition("a", "failure", "recover", "next")])
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then the condition does not match, so target_task_failure is picked
    assert successor_names(decision) == ("next",)


@pytest.mark.parametrize("outcome", ["SUCCESS", "Success", " success "])
def test_outcome_matching_ignores_case(outcome: str) -> None:
    # Given a condition whose outcome is written in another case
    flow = compile_flow(["a", "ok", "ko"], [condition("a", outcome, "ok", "ko")])
    # When `a` succeeds / fails
    on_success = decide(flow, run_of("a"), 1, SUCCESS)
    on_failure = decide(flow, run_of("a"), 1, FAILURE)
    # Then it matches like `success`
    assert successor_names(on_success) == ("ok",)
    assert successor_names(on_failure) == ("ko",)


def test_failure_outcome_matching_ignores_case() -> None:
    # Given an upper-case FAILURE outcome
    flow = compile_flow(["a", "ok", "ko"], [condition("a", "FAILURE", "ko", "ok")])
    # When `a` fails
    decision = decide(flow, run_of("a"), 1, FAILURE)
    # Then the failure matched
    assert successor_names(decision) == ("ko",)


def test_when_rule_that_holds_keeps_the_success_target() -> None:
    # Given a success condition also requiring output.count > 10
    when = {"path": "count", "op": "gt", "value": 10}
    flow = compile_flow(["a", "big", "small"], [condition("a", "success", "big", "small", when=when)])
    # When `a` succeeds with count 11
    decision = decide(flow, run_of("a"), 1, TaskResult(status=TaskStatus.SUCCESS, output={"count": 11}))
    # Then target_task_success is picked
    assert successor_names(decision) == ("big",)


def test_when_rule_that_does_not_hold_picks_the_failure_target() -> None:
    # Given a success condition requiring output.count > 10
    when = {"path": "output.count", "op": "gt", "value": 10}
    flow = compile_flow(["a", "big", "small"], [condition("a", "success", "big", "small", when=when)])
    # When `a` succeeds with count 3
    decision = decide(flow, run_of("a"), 1, TaskResult(status=TaskStatus.SUCCESS, output={"count": 3}))
    # Then target_task_failure is picked
    assert successor_names(decision) == ("small",)


def test_when_rule_is_not_consulted_when_the_outcome_does_not_match() -> None:
    # Given a success condition with a when rule that would hold
    when = {"path": "count", "op": "exists"}
    flow = compile_flow(["a", "big", "small"], [condition("a", "success", "big", "small", when=when)])
    # When `a` fails with output that satisfies the rule
    decision = decide(flow, run_of("a"), 1, TaskResult(status=TaskStatus.FAILURE, output={"count": 1}))
    # Then the outcome mismatch decides: target_task_failure
    assert successor_names(decision) == ("small",)


def test_when_rule_on_missing_output_does_not_hold() -> None:
    # Given a success condition requiring output.flag == true
    when = {"path": "flag", "op": "eq", "value": True}
    flow = compile_flow(["a", "yes", "no"], [condition("a", "success", "yes", "no", when=when)])
    # When `a` succeeds with no output at all
    decision = decide(flow, run_of("a"), 1, TaskResult(status=TaskStatus.SUCCESS, output=None))
    # Then the rule does not hold
    assert successor_names(decision) == ("no",)


def test_an_expr_rule_reads_the_output_and_the_context_given_to_decide() -> None:
    # Given a condition whose when compares the output with the execution's input
    when = {"all": [{"expr": "output.count > input.limit"}, {"not": {"path": "count", "op": "eq", "value": 0}}]}
    flow = compile_flow(["a", "big", "small"], [condition("a", "success", "big", "small", when=when)])
    result = TaskResult(status=TaskStatus.SUCCESS, output={"count": 11})
    # When deciding with a context that holds the input, and with one whose limit is higher
    over = decide(flow, run_of("a"), 1, result, context={"input": {"limit": 10}})
    under = decide(flow, run_of("a"), 1, result, context={"input": {"limit": 20}})
    # Then the rule holds only in the first
    assert successor_names(over) == ("big",)
    assert successor_names(under) == ("small",)


def test_without_a_context_an_expr_rule_reads_output_alone() -> None:
    # Given an expr rule (existing callers pass no context)
    when = {"any": [{"expr": "output.count > `10`"}, {"expr": "input.always"}]}
    flow = compile_flow(["a", "big", "small"], [condition("a", "success", "big", "small", when=when)])
    # When deciding without a context / Then `input` is absent (null) and `output` is read
    assert successor_names(decide(flow, run_of("a"), 1, TaskResult(TaskStatus.SUCCESS, {"count": 11}))) == ("big",)
    assert successor_names(decide(flow, run_of("a"), 1, TaskResult(TaskStatus.SUCCESS, {"count": 1}))) == ("small",)
    assert next_tasks(flow, "a", TaskResult(TaskStatus.SUCCESS, {"count": 1}), {"input": {"always": 1}}) == ("big",)


def test_a_when_expression_that_fails_raises_from_decide() -> None:
    # Given an expr rule applying a function to an absent value
    flow = compile_flow(["a", "b"], [condition("a", "success", "b", when={"expr": "length(output.rows) > `1`"})])
    # When deciding / Then the expression error reaches the caller, naming the expression
    with pytest.raises(ExpressionError) as caught:
        decide(flow, run_of("a"), 1, SUCCESS)
    assert caught.value.expression == "length(output.rows) > `1`"


# No conditions at all


def test_no_conditions_success_goes_to_the_next_task_in_list_order() -> None:
    # Given a flow with no conditions
    flow = compile_flow(["a", "b", "c"])
    # When `a` and then `b` succeed
    after_a = decide(flow, run_of("a", 1), 1, SUCCESS)
    after_b = decide(flow, run_of("b", 2), 1, SUCCESS)
    # Then each is followed by the next task in the list
    assert successor_names(after_a) == ("b",)
    assert successor_names(after_b) == ("c",)


def test_no_conditions_success_of_the_last_task_ends_the_branch_without_failure() -> None:
    # Given a flow with no conditions
    flow = compile_flow(["a", "b"])
    # When the last task succeeds
    decision = decide(flow, run_of("b", 2), 1, SUCCESS)
    # Then nothing follows, and that is not a failure
    assert decision.successors == ()
    assert decision.ends_branch
    assert decision.unhandled_failure is False
    assert decision.limit_exceeded is False


def test_no_conditions_failure_is_unhandled_and_names_the_task() -> None:
    # Given a flow with no conditions
    flow = compile_flow(["a", "b"])
    # When `a` fails
    decision = decide(flow, run_of("a"), 1, FAILURE)
    # Then the branch ends as an unhandled failure naming `a`
    assert decision.successors == ()
    assert decision.ends_branch
    assert decision.unhandled_failure is True
    assert decision.reason is not None
    assert "'a'" in decision.reason
    assert "boom" in decision.reason


def test_no_conditions_task_named_end_still_runs_in_list_order() -> None:
    # Given a no-conditions flow whose second task is literally named `end`
    flow = compile_flow(["a", "end"])
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then the task `end` is the successor
    assert successor_names(decision) == ("end",)


# The flow has conditions, but none for T


def test_conditions_elsewhere_success_of_an_unconditioned_task_ends_the_branch() -> None:
    # Given conditions exist only for `a`
    flow = compile_flow(["a", "b", "c"], [condition("a", "success", "b", "end")])
    # When `b` succeeds
    decision = decide(flow, run_of("b", 2), 1, SUCCESS)
    # Then the branch ends after `b` (no fallback to list order), cleanly
    assert decision.successors == ()
    assert decision.ends_branch
    assert decision.unhandled_failure is False


def test_conditions_elsewhere_failure_of_an_unconditioned_task_is_unhandled() -> None:
    # Given conditions exist only for `a`
    flow = compile_flow(["a", "b", "c"], [condition("a", "success", "b", "end")])
    # When `b` fails
    decision = decide(flow, run_of("b", 2), 1, FAILURE)
    # Then the branch ends as an unhandled failure naming `b`
    assert decision.successors == ()
    assert decision.unhandled_failure is True
    assert decision.reason is not None
    assert "'b'" in decision.reason


# End targets


@pytest.mark.parametrize("target", ["end", "END", "End", " end ", None])
def test_end_target_in_any_case_or_null_ends_the_branch(target: str | None) -> None:
    # Given a condition whose success target is an end marker
    flow = compile_flow(["a", "b"], [condition("a", "success", target, "b")])
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then the branch ends cleanly
    assert decision.successors == ()
    assert decision.ends_branch
    assert decision.unhandled_failure is False


@pytest.mark.parametrize("target", ["end", "END", "End", " end ", None])
def test_failure_routed_to_end_is_an_unhandled_failure(target: str | None) -> None:
    # Given a condition whose failure target is an end marker
    flow = compile_flow(["a", "b"], [condition("a", "success", "b", target)])
    # When `a` fails
    decision = decide(flow, run_of("a"), 1, FAILURE)
    # Then the branch ends right after a failure: unhandled
    assert decision.successors == ()
    assert decision.unhandled_failure is True
    assert decision.reason is not None
    assert "'a'" in decision.reason


# Parallel branches


def test_several_conditions_give_parallel_successors_in_condition_order() -> None:
    # Given three conditions on `a`
    conditions = [
        condition("a", "success", "c", "end"),
        condition("a", "success", "b", "end"),
        condition("a", "failure", "end", "d"),
    ]
    flow = compile_flow(["a", "b", "c", "d"], conditions)
    # When `a` succeeds at seq 5
    decision = decide(flow, RunRef("exec-9", 5, "a"), 1, SUCCESS)
    # Then every picked target follows, in condition order, at seq 6 of the same execution
    assert decision.successors == (RunRef("exec-9", 6, "c"), RunRef("exec-9", 6, "b"), RunRef("exec-9", 6, "d"))


def test_two_conditions_picking_the_same_target_give_one_successor() -> None:
    # Given two conditions that both lead to `b`, and one to `c` between them
    conditions = [
        condition("a", "success", "b", "end"),
        condition("a", "success", "c", "end"),
        condition("a", "failure", "end", "b"),
    ]
    flow = compile_flow(["a", "b", "c"], conditions)
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then `b` appears once, at its first position
    assert successor_names(decision) == ("b", "c")


def test_conditions_mixing_end_and_tasks_keep_only_the_tasks() -> None:
    # Given one condition ending the branch and another continuing it
    flow = compile_flow(["a", "b"], [condition("a", "success", "end", "end"), condition("a", "success", "b", "end")])
    # When `a` succeeds
    decision = decide(flow, run_of("a"), 1, SUCCESS)
    # Then only the real task follows
    assert successor_names(decision) == ("b",)


def test_loop_back_to_an_earlier_task_is_allowed() -> None:
    # Given a condition that sends a failing `b` back to `a`
    flow = compile_flow(["a", "b"], [condition("a", "success", "b", "end"), condition("b", "success", "end", "a")])
    # When `b` fails at seq 2
    decision = decide(flow, run_of("b", 2), 1, FAILURE)
    # Then `a` runs again at seq 3
    assert decision.successors == (RunRef("exec-1", 3, "a"),)


def test_next_tasks_returns_names_only() -> None:
    # Given a no-conditions flow
    flow = compile_flow(["a", "b"])
    # When asking what follows `a`
    # Then the names are returned directly
    assert next_tasks(flow, "a", SUCCESS) == ("b",)
    assert next_tasks(flow, "a", FAILURE) == ()
    assert next_tasks(flow, "b", SUCCESS) == ()


# Transition limit


def test_successor_past_the_transition_limit_is_refused() -> None:
    # Given a flow limited to 3 transitions
    flow = compile_flow(["a", "b"], max_transitions=3)
    # When `a` succeeds at seq 3, so its successor would be seq 4
    decision = decide(flow, run_of("a", 3), 1, SUCCESS)
    # Then no successor is scheduled and the limit is reported
    assert decision.successors == ()
    assert decision.limit_exceeded is True
    assert decision.reason is not None
    assert "limit" in decision.reason
    assert "3" in decision.reason


def test_successor_at_the_transition_limit_is_allowed() -> None:
    # Given a flow limited to 3 transitions
    flow = compile_flow(["a", "b"], max_transitions=3)
    # When `a` succeeds at seq 2, so its successor is seq 3
    decision = decide(flow, run_of("a", 2), 1, SUCCESS)
    # Then the successor runs
    assert decision.successors == (RunRef("exec-1", 3, "b"),)
    assert decision.limit_exceeded is False


def test_transition_limit_stops_a_loop() -> None:
    # Given a flow that loops `a` -> `a` forever with a limit of 3
    flow = compile_flow(["a"], [condition("a", "success", "a", "a")], max_transitions=3)
    # When following decisions from seq 1
    run = run_of("a", 1)
    visited = [run.seq]
    decision = decide(flow, run, 1, SUCCESS)
    while decision.successors:
        run = decision.successors[0]
        visited.append(run.seq)
        decision = decide(flow, run, 1, SUCCESS)
    # Then the loop stops at the limit
    assert visited == [1, 2, 3]
    assert decision.limit_exceeded is True


def test_default_transition_limit_is_ten_thousand() -> None:
    # Given a flow without its own limit
    flow = compile_flow(["a", "b"])
    # When `a` ends at seq 9,999 and at seq 10,000
    below = decide(flow, run_of("a", 9_999), 1, SUCCESS)
    above = decide(flow, run_of("a", 10_000), 1, SUCCESS)
    # Then the limit is 10,000
    assert successor_names(below) == ("b",)
    assert above.limit_exceeded is True


# Retries


@pytest.mark.parametrize("attempt", [1, 2])
def test_failure_with_attempts_left_is_retried_with_the_given_delay(attempt: int) -> None:
    # Given a task allowed 3 attempts
    flow = compile_flow([{"name": "a", "retry": {"max_attempts": 3}}, "b"])
    # When it fails before its last attempt
    decision = decide(flow, run_of("a"), attempt, FAILURE, retry_delay_seconds=7.5)
    # Then it is retried after the delay the caller drew, with no successor
    assert decision.retry_delay_seconds == 7.5
    assert decision.successors == ()
    assert decision.unhandled_failure is False
    assert not decision.ends_branch


def test_failure_on_the_last_attempt_routes_normally() -> None:
    # Given a task allowed 3 attempts, with a recovery condition
    flow = compile_flow(
        [{"name": "a", "retry": {"max_attempts": 3}}, "b", "recover"], [condition("a", "success", "b", "recover")]
    )
    # When it fails on attempt 3
    decision = decide(flow, run_of("a"), 3, FAILURE, retry_delay_seconds=7.5)
    # Then no retry; the failure target follows
    assert decision.retry_delay_seconds is None
    assert successor_names(decision) == ("recover",)


def test_failure_on_the_last_attempt_without_routing_is_unhandled() -> None:
    # Given a no-conditions flow whose task allows 3 attempts
    flow = compile_flow([{"name": "a", "retry": {"max_attempts": 3}}, "b"])
    # When it fails on attempt 3
    decision = decide(flow, run_of("a"), 3, FAILURE, retry_delay_seconds=7.5)
    # Then the failure is unhandled
    assert decision.retry_delay_seconds is None
    assert decision.unhandled_failure is True


def test_success_is_never_retried() -> None:
    # Given a task allowed 3 attempts
    flow = compile_flow([{"name": "a", "retry": {"max_attempts": 3}}, "b"])
    # When it succeeds on attempt 1
    decision = decide(flow, run_of("a"), 1, SUCCESS, retry_delay_seconds=7.5)
    # Then it routes on, without a retry
    assert decision.retry_delay_seconds is None
    assert successor_names(decision) == ("b",)


def test_failure_without_a_retry_policy_is_not_retried() -> None:
    # Given a task with no retry policy
    flow = compile_flow(["a", "b"])
    # When it fails on attempt 1
    decision = decide(flow, run_of("a"), 1, FAILURE, retry_delay_seconds=7.5)
    # Then it is not retried
    assert decision.retry_delay_seconds is None
    assert decision.unhandled_failure is True


def test_retry_delay_grows_exponentially() -> None:
    # Given interval 2s and rate 3
    policy = RetryPolicy(max_attempts=5, interval_seconds=2, backoff_rate=3, max_delay_seconds=1000)
    # When computing the delay after attempts 1..4
    delays = [retry_delay(policy, attempt) for attempt in range(1, 5)]
    # Then it is interval * rate^(attempt-1)
    assert delays == [2.0, 6.0, 18.0, 54.0]


def test_retry_delay_is_capped_at_max_delay() -> None:
    # Given a cap of 10s
    policy = RetryPolicy(interval_seconds=4, backoff_rate=2, max_delay_seconds=10)
    # When the uncapped delay would be 16s
    delay = retry_delay(policy, 3)
    # Then the cap applies
    assert delay == 10.0


def test_retry_delay_with_jitter_scales_by_the_random_draw() -> None:
    # Given a jittered policy and a fixed draw
    policy = RetryPolicy(interval_seconds=4, backoff_rate=2, max_delay_seconds=10, jitter=True)
    # When computing delays below and above the cap
    below_cap = retry_delay(policy, 2, rand=lambda: 0.25)
    above_cap = retry_delay(policy, 5, rand=lambda: 0.5)
    # Then each is the capped delay times the draw
    assert below_cap == pytest.approx(2.0)
    assert above_cap == pytest.approx(5.0)


def test_retry_delay_without_jitter_ignores_the_random_source() -> None:
    # Given a policy without jitter
    policy = RetryPolicy(interval_seconds=3, backoff_rate=2)
    # When a random source is passed
    delay = retry_delay(policy, 2, rand=lambda: 0.0)
    # Then it is not used
    assert delay == 6.0


# Determinism


@pytest.mark.parametrize("result", [SUCCESS, FAILURE])
def test_decide_is_deterministic(result: TaskResult) -> None:
    # Given a flow with parallel branches and a retried task
    conditions = [condition("a", "success", "b", "c"), condition("a", "failure", "c", "b")]
    flow = compile_flow([{"name": "a", "retry": {"max_attempts": 2}}, "b", "c"], conditions)
    # When deciding twice on the same inputs, both for a retry and for routing
    for attempt in (1, 2):
        first = decide(flow, run_of("a", 4), attempt, result, retry_delay_seconds=1.5)
        second = decide(flow, run_of("a", 4), attempt, result, retry_delay_seconds=1.5)
        # Then the decisions are equal
        assert first == second


def test_join_points_are_tasks_that_conditions_of_several_tasks_lead_to() -> None:
    flow = compile_flow(
        ["start", "a", "b", "join", "after", "recover"],
        [
            condition("start", on_match="a"),
            condition("start", on_match="b"),
            condition("a", on_match="join", otherwise="recover"),
            condition("b", on_match="join", otherwise="recover"),
            condition("join", on_match="after", otherwise="END"),
        ],
    )

    assert flow.join_points == frozenset({"join", "recover"})


def test_a_sequential_flow_has_no_join_points() -> None:
    assert compile_flow(["one", "two", "three"]).join_points == frozenset()
