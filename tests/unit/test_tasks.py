"""The task registry and the built-in task types, run directly with a fixed random source."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore.api.parameters import parameter_problems
from flowcore.domain.records import TaskResult
from flowcore.domain.statuses import TaskStatus
from flowcore.tasks import TaskContext, TaskType, TaskTypeRegistry, default_registry
from flowcore.tasks.builtins import PassTask

BUILTINS = ("pass", "fetch_data", "process_data", "store_data", "print", "wait")
INTEGRATIONS = ("http",)


@pytest.fixture
def registry() -> TaskTypeRegistry:
    return default_registry()


def context(
    parameters: dict[str, Any] | None = None, attempt: int = 1, rand: float = 0.99, task: str = "t1"
) -> TaskContext:
    return TaskContext(
        execution_id="exec-1",
        seq=3,
        task_name=task,
        attempt=attempt,
        parameters=parameters or {},
        execution_input={"customer": "c-1"},
        rand=lambda: rand,
    )


def run(
    registry: TaskTypeRegistry, type_name: str, parameters: dict[str, Any] | None = None, **kwargs: Any
) -> TaskResult:
    task_type = registry.get(type_name)
    assert task_type is not None, type_name
    return task_type.execute(context(parameters, **kwargs))


# Registry


def test_default_registry_knows_every_builtin(registry: TaskTypeRegistry) -> None:
    # Given the default registry
    # When listing its types
    names = registry.names()
    # Then every built-in is there, sorted
    assert names == sorted(BUILTINS + INTEGRATIONS)
    for name in BUILTINS:
        task_type = registry.get(name)
        assert isinstance(task_type, TaskType)
        assert task_type.name == name


def test_registry_returns_none_for_an_unknown_type(registry: TaskTypeRegistry) -> None:
    # Given the default registry
    # When looking up an unknown type
    # Then nothing is found
    assert registry.get("teleport") is None


def test_registry_rejects_a_duplicate_registration(registry: TaskTypeRegistry) -> None:
    # Given a registry already holding `pass`
    # When registering another `pass`
    with pytest.raises(ValueError, match="'pass'") as caught:
        registry.register(PassTask())
    # Then it is refused and the original stays
    assert "twice" in str(caught.value)
    assert registry.names() == sorted(BUILTINS + INTEGRATIONS)


def test_registry_rejects_duplicates_at_construction() -> None:
    # Given two instances of the same type
    # When building a registry from both
    # Then it is refused
    with pytest.raises(ValueError, match="registered twice"):
        TaskTypeRegistry([PassTask(), PassTask()])


def test_registry_accepts_a_new_type() -> None:
    # Given a custom task type
    class Shout(TaskType):
        name = "shout"
        description = "Upper-cases its input."

        def run(self, ctx: TaskContext, params: Any) -> TaskResult:
            return TaskResult(status=TaskStatus.SUCCESS, output={"said": str(ctx.execution_input["word"]).upper()})

    registry = TaskTypeRegistry()
    # When registering and running it
    registry.register(Shout())
    task_type = registry.get("shout")
    assert task_type is not None
    result = task_type.execute(
        TaskContext(execution_id="e", seq=1, task_name="s", attempt=1, parameters={}, execution_input={"word": "hi"})
    )
    # Then it is found and runs
    assert registry.names() == ["shout"]
    assert result.output == {"said": "HI"}


def test_registry_problems_for_valid_parameters_is_empty(registry: TaskTypeRegistry) -> None:
    # Given valid parameters for a print task
    # When checking them
    problems = parameter_problems(registry, "print", {"message": "hi", "fail_times": 1}, "tasks[4]")
    # Then there are none
    assert problems == []


def test_registry_problems_names_the_parameter_path(registry: TaskTypeRegistry) -> None:
    # Given an invalid records count
    # When checking it
    problems = parameter_problems(registry, "fetch_data", {"records": -1}, "tasks[4]")
    # Then the path is under the task's parameters
    assert [problem.field for problem in problems] == ["tasks[4].parameters.records"]


# Idempotency key


def test_idempotency_key_names_the_attempt() -> None:
    # Given a context for attempt 2 of task t1 at seq 3 of exec-1
    ctx = context(attempt=2)
    # When reading its idempotency key
    key = ctx.idempotency_key
    # Then it carries every part
    assert key == "exec-1:3:t1:2"


def test_idempotency_key_differs_per_attempt_seq_task_and_execution() -> None:
    # Given contexts that differ in exactly one identifying field
    base = context()
    variants = [
        context(attempt=2),
        context(task="t2"),
        TaskContext("exec-1", 4, "t1", 1, {}, {}),
        TaskContext("exec-2", 3, "t1", 1, {}, {}),
    ]
    # When comparing their keys
    keys = {ctx.idempotency_key for ctx in variants}
    # Then every key is distinct, and stable for equal contexts
    assert len(keys) == 4
    assert base.idempotency_key not in keys
    assert base.idempotency_key == context(rand=0.1).idempotency_key


# Built-ins succeed with their documented output


def test_pass_echoes_its_parameters(registry: TaskTypeRegistry) -> None:
    # Given a pass task with user parameters and forced-outcome parameters that let it succeed
    # When it runs
    result = run(registry, "pass", {"a": 1, "b": [2], "failure_rate": 0, "fail_times": 0})
    # Then it succeeds and echoes only the user parameters
    assert result.status is TaskStatus.SUCCESS
    assert result.succeeded
    assert result.output == {"parameters": {"a": 1, "b": [2]}}
    assert result.message == "Task t1 completed successfully"
    assert result.error is None


def test_fetch_data_reads_data_source(registry: TaskTypeRegistry) -> None:
    # Given fetch_data with the original's data_source and a record count
    # When it runs, and again with defaults
    result = run(registry, "fetch_data", {"data_source": "s3://bucket", "records": 7})
    default = run(registry, "fetch_data")
    # Then it reports what it fetched, and from where
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"data_source": "s3://bucket", "records_fetched": 7}
    assert default.output == {"data_source": "default", "records_fetched": 3}


def test_process_data_reads_method(registry: TaskTypeRegistry) -> None:
    # Given process_data with the original's method
    # When it runs with a method and a record count, and again with defaults
    result = run(registry, "process_data", {"method": "aggregate", "records": 11})
    default = run(registry, "process_data")
    # Then it reports what it processed, and how
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"method": "aggregate", "records_processed": 11}
    assert default.output == {"method": "default", "records_processed": 3}


def test_store_data_reads_storage_path_and_format(registry: TaskTypeRegistry) -> None:
    # Given store_data with the original's storage_path and format
    # When it runs, and again with defaults
    result = run(registry, "store_data", {"storage_path": "/data/out", "format": "csv", "records": 2})
    default = run(registry, "store_data")
    # Then it reports what it stored, where and how
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"storage_path": "/data/out", "format": "csv", "records_stored": 2}
    assert default.output == {"storage_path": "default", "format": "json", "records_stored": 3}


def test_print_returns_its_message_or_the_originals_default(registry: TaskTypeRegistry) -> None:
    # Given a print task with a message, and one without
    # When they run
    result = run(registry, "print", {"message": "hello"})
    default = run(registry, "print")
    # Then each succeeds with its message; the default is the original's
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"message": "hello"}
    assert default.output == {"message": "Default print task message"}


def test_wait_reports_the_time_waited(registry: TaskTypeRegistry) -> None:
    # Given a zero-second wait
    # When it runs
    result = run(registry, "wait", {"seconds": 0})
    # Then it succeeds and reports the wait
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"waited_seconds": 0}


def test_wait_defaults_to_one_second(registry: TaskTypeRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a wait with no seconds, and a clock that records sleeps
    slept: list[float] = []
    monkeypatch.setattr("flowcore.tasks.builtins.time.sleep", slept.append)
    # When it runs
    result = run(registry, "wait")
    # Then it waited the original's default, one second
    assert slept == [1.0]
    assert result.output == {"waited_seconds": 1.0}
    assert parameter_problems(registry, "wait", {}, "tasks[0]") == []


@pytest.mark.parametrize("type_name", ["fetch_data", "process_data", "store_data", "print", "wait"])
def test_parameters_a_type_does_not_read_are_kept_in_its_output(registry: TaskTypeRegistry, type_name: str) -> None:
    # Given a task with a parameter its type does not declare (and seconds 0, for wait)
    parameters = {"batch": {"size": 5, "tags": ["a", None]}, "note": None, "seconds": 0}
    # When it runs
    result = run(registry, type_name, parameters if type_name == "wait" else {**parameters, "seconds": 0})
    # Then the undeclared ones are reported with its output, values as given
    assert result.output is not None
    kept = result.output["parameters"]
    assert kept["batch"] == {"size": 5, "tags": ["a", None]}
    assert kept["note"] is None


@pytest.mark.parametrize(
    ("type_name", "parameters", "field"),
    [
        ("fetch_data", {"failure_rate": True}, "failure_rate"),
        ("wait", {"seconds": "5"}, "seconds"),
        ("fetch_data", {"records": "3"}, "records"),
        ("print", {"message": 5}, "message"),
        ("pass", {"fail_times": 1.5}, "fail_times"),
    ],
)
def test_declared_parameters_are_typed_strictly(
    registry: TaskTypeRegistry, type_name: str, parameters: dict[str, Any], field: str
) -> None:
    # Given a declared parameter of the wrong JSON type
    # When checking it
    problems = parameter_problems(registry, type_name, parameters, "tasks[0]")
    # Then it is a problem naming that parameter, not a value converted behind the caller's back
    assert [problem.field for problem in problems] == [f"tasks[0].parameters.{field}"]


def test_an_int_is_a_valid_float_parameter(registry: TaskTypeRegistry) -> None:
    # Given whole numbers for float parameters
    # When checking them / Then there is no problem (JSON has one kind of number)
    assert parameter_problems(registry, "wait", {"seconds": 2, "failure_rate": 0}, "tasks[0]") == []


def test_wait_is_the_only_builtin_that_claims_its_run(registry: TaskTypeRegistry) -> None:
    # Given every built-in
    # When asking which ones are long-running
    claiming = [name for name in BUILTINS if (task_type := registry.get(name)) is not None and task_type.needs_claim]
    # Then only `wait` is
    assert claiming == ["wait"]


# Forced outcomes


@pytest.mark.parametrize("type_name", ["pass", "fetch_data", "process_data", "store_data", "print"])
def test_fail_times_fails_the_first_attempts_then_succeeds(registry: TaskTypeRegistry, type_name: str) -> None:
    # Given a task forced to fail twice
    parameters = {"fail_times": 2}
    # When it runs attempts 1, 2 and 3
    results = [run(registry, type_name, parameters, attempt=attempt) for attempt in (1, 2, 3)]
    # Then the first two fail with a clear error and the third succeeds
    assert [result.status for result in results] == [TaskStatus.FAILURE, TaskStatus.FAILURE, TaskStatus.SUCCESS]
    assert results[0].error == "forced failure 1 of 2 (fail_times)"
    assert results[1].error == "forced failure 2 of 2 (fail_times)"
    assert results[0].message == "Task t1 failed"
    assert results[0].output is None


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_failure_rate_one_always_fails(registry: TaskTypeRegistry, draw: float) -> None:
    # Given failure_rate 1
    # When it runs, whatever the random draw
    result = run(registry, "fetch_data", {"failure_rate": 1}, rand=draw)
    # Then it fails
    assert result.status is TaskStatus.FAILURE
    assert result.error is not None
    assert "failure_rate" in result.error


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_failure_rate_zero_never_fails(registry: TaskTypeRegistry, draw: float) -> None:
    # Given failure_rate 0
    # When it runs, whatever the random draw
    result = run(registry, "fetch_data", {"failure_rate": 0}, rand=draw)
    # Then it succeeds
    assert result.status is TaskStatus.SUCCESS


def test_failure_rate_fails_when_the_draw_is_below_the_rate(registry: TaskTypeRegistry) -> None:
    # Given a draw of 0.3
    # When running with rate 0.5 and with rate 0.2
    above = run(registry, "process_data", {"failure_rate": 0.5}, rand=0.3)
    below = run(registry, "process_data", {"failure_rate": 0.2}, rand=0.3)
    # Then 0.3 < 0.5 fails and 0.3 >= 0.2 succeeds
    assert above.status is TaskStatus.FAILURE
    assert above.error == "random failure (failure_rate 0.5)"
    assert below.status is TaskStatus.SUCCESS


def test_failure_rate_fails_at_a_draw_equal_to_the_rate_only_when_below(registry: TaskTypeRegistry) -> None:
    # Given a draw exactly equal to the rate
    # When running
    result = run(registry, "store_data", {"failure_rate": 0.3}, rand=0.3)
    # Then it succeeds: it fails only when random() < rate
    assert result.status is TaskStatus.SUCCESS


def test_fail_times_takes_precedence_over_a_zero_failure_rate(registry: TaskTypeRegistry) -> None:
    # Given fail_times 1 and failure_rate 0
    # When attempt 1 runs
    result = run(registry, "pass", {"fail_times": 1, "failure_rate": 0}, attempt=1)
    # Then it still fails
    assert result.status is TaskStatus.FAILURE
