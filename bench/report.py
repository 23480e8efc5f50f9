"""results.json and the table on stdout: measured numbers, what they cost, and the targets of issue 5."""

from __future__ import annotations

import statistics
from typing import Any

from bench import costs, prices
from bench.micro import ColdInit, RunnerOverhead
from bench.workloads import WorkloadRun

SFN_STANDARD_PER_1000 = prices.SFN_STANDARD_USD_PER_TRANSITION * 1000
BREAKDOWN_WORKLOADS = ("sequential_100", "fan_out_20", "data_passing_3", "large_output", "lambda_3")

# The targets of issue 5.
CHEAPER_THAN_SFN_AT_LEAST = 10.0
INVOCATIONS_PER_TRANSITION_AT_MOST = 1.05
#: "Cost per step does not grow with the execution's length": the 1,000-task flow's WRU per transition may be at
#: most 10% above the 3-task flow's. Read as one-sided on purpose: every execution also writes its own item at
#: start and end, shared by 3 transitions in one flow and 1,000 in the other, so the long flow is always the
#: cheaper per step; two-sided, 10% would need those writes under 0.3 WRU per execution.
WRU_GROWTH_AT_MOST = 0.10
COLD_INIT_RATIO_AT_MOST = 1.5
ENGINE_DECISION_US_AT_MOST = 50.0
RUNNER_OVERHEAD_MS_AT_MOST = 3.0
#: Issue 12: tasks that read earlier outputs add at most this many RRU per transition.
DATA_PASSING_ADDED_RRU_AT_MOST = 1.0


#: Wait -> Choice -> UpdateItem -> Succeed: what one timer execution of statemachine/timer.asl.json bills.
TIMER_TRANSITIONS_PER_START = 4


def usage_of(run: WorkloadRun) -> costs.Usage:
    return costs.Usage(
        transitions=run.transitions,
        wru=run.wru,
        rru=run.rru,
        lambda_invocations=run.api_invocations + run.runner_invocations,
        lambda_gb_seconds=run.api_gb_seconds + run.runner_gb_seconds + run.runner_wait_gb_seconds,
        sfn_transitions=run.sfn_starts * TIMER_TRANSITIONS_PER_START,
        api_requests=run.api_invocations,
        log_bytes=run.log_bytes,
        s3_puts=run.s3_puts,
        s3_gets=run.s3_gets,
    )


def workload_result(run: WorkloadRun) -> dict[str, Any]:
    usage = usage_of(run)
    per = 1 / run.transitions
    charged = costs.cost(usage)
    operations = [
        {
            "operation": label,
            "calls": tally.calls,
            "calls_per_transition": tally.calls * per,
            "wru": tally.wru,
            "rru": tally.rru,
            "gsi_wru": tally.index_wru,
            "wru_per_transition": tally.wru * per,
            "rru_per_transition": tally.rru * per,
        }
        for label, tally in sorted(run.operations.items(), key=lambda pair: (-pair[1].wru, -pair[1].rru, pair[0]))
    ]
    return {
        "title": run.workload.title,
        "status": run.status,
        "transitions": run.transitions,
        "steps": run.steps,
        "api_invocations": run.api_invocations,
        "runner_invocations": run.runner_invocations,
        "records_delivered": run.records_delivered,
        "lambda_invocations_per_transition": (run.api_invocations + run.runner_invocations) * per,
        "wru": run.wru,
        "rru": run.rru,
        "gsi_wru": run.index_wru,
        "wru_per_transition": run.wru * per,
        "rru_per_transition": run.rru * per,
        "api_billed_ms": run.api_billed_ms,
        "runner_billed_ms": run.runner_billed_ms,
        "api_ms_in_moto": round(run.api_service_ms, 1),
        "runner_ms_in_moto": round(run.runner_service_ms, 1),
        "billed_ms_per_transition": (run.api_billed_ms + run.runner_billed_ms) * per,
        "moto_ms_per_transition": (run.api_service_ms + run.runner_service_ms) * per,
        "runner_median_invocation_ms": statistics.median(run.runner_durations_ms) if run.runner_durations_ms else 0.0,
        "lambda_gb_seconds": usage.lambda_gb_seconds,
        "sfn_timer_starts": run.sfn_starts,
        "s3_puts": run.s3_puts,
        "s3_gets": run.s3_gets,
        "log_bytes_per_transition": run.log_bytes * per,
        "usd_per_execution": charged.total,
        "usd_per_1000_transitions": costs.per_1000_transitions(usage),
        "usd_per_1000_transitions_by_part": charged.scaled(1000 * per),
        "usd_per_1000_transitions_not_included": costs.beside_the_headline(usage),
        "sfn_standard_usd_per_1000_transitions": costs.sfn_standard_per_1000(),
        "sfn_express_usd_per_1000_transitions": costs.sfn_express_per_1000(run.transitions, run.steps),
        "operations": operations,
        "wall_seconds": round(run.wall_seconds, 2),
        **user_functions(run, usage),
    }


def user_functions(run: WorkloadRun, usage: costs.Usage) -> dict[str, Any]:
    """For a flow of `lambda` tasks: the user's invocations, the runner's (assumed) wait for them, and both sides
    with the functions' own cost, which is the same on both sides (one invocation per task)."""
    if not run.user_invocations:
        return {}
    per_1000 = 1000 / run.transitions
    functions = costs.lambda_task_usd() * run.user_invocations * per_1000
    standard = costs.sfn_standard_per_1000()["orchestration"]  # one state transition per task, as for every row
    engine = costs.per_1000_transitions(usage)
    return {
        "user_lambda_invocations": run.user_invocations,
        "runner_wait_gb_seconds_assumed": run.runner_wait_gb_seconds,
        "runner_wait_usd_per_1000_transitions": run.runner_wait_gb_seconds
        * prices.LAMBDA_ARM64_USD_PER_GB_SECOND
        * per_1000,
        "user_functions_usd_per_1000_transitions": functions,
        "usd_per_1000_transitions_with_user_functions": engine + functions,
        "sfn_standard_usd_per_1000_transitions_with_user_functions": standard + functions,
    }


def _target(rule: str, value: Any, met: bool, margin: Any) -> dict[str, Any]:
    return {"rule": rule, "value": value, "met": met, "margin": margin}


def targets(workloads: dict[str, dict[str, Any]], summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target met or not; `margin` is how far the value is from the limit (negative: on the wrong side)."""
    cheaper = summary["cheaper_than_sfn_standard"]
    invocations = {name: w["lambda_invocations_per_transition"] for name, w in workloads.items()}
    w3 = workloads["sample_3"]["wru_per_transition"]
    w1000 = workloads["sequential_1000"]["wru_per_transition"]
    growth = w1000 / w3 - 1
    # WRU = per_step * transitions + per_execution, solved from the two sequential flows.
    per_step = (w1000 * 1000 - w3 * 3) / (1000 - 3)
    per_execution = w3 * 3 - per_step * 3
    added_rru = workloads["data_passing_3"]["rru_per_transition"] - workloads["sample_3"]["rru_per_transition"]
    cold = summary["cold_init_ratio"]
    decision = summary["engine_decision_us"]
    overhead = summary["runner_overhead_ms"]
    return {
        "cheaper_than_sfn_standard": _target(
            f">= {CHEAPER_THAN_SFN_AT_LEAST:g} (sample_3, Lambda included)",
            cheaper,
            cheaper >= CHEAPER_THAN_SFN_AT_LEAST,
            cheaper - CHEAPER_THAN_SFN_AT_LEAST,
        ),
        "lambda_invocations_per_transition": _target(
            f"<= {INVOCATIONS_PER_TRANSITION_AT_MOST} in every workload",
            invocations,
            all(value <= INVOCATIONS_PER_TRANSITION_AT_MOST for value in invocations.values()),
            {name: INVOCATIONS_PER_TRANSITION_AT_MOST - value for name, value in invocations.items()},
        ),
        "wru_per_transition_1000_vs_3": _target(
            f"sequential_1000 at most {WRU_GROWTH_AT_MOST:.0%} above sample_3 (does not grow with length)",
            {
                "sample_3": w3,
                "sequential_1000": w1000,
                "relative_difference": growth,
                "wru_per_step": per_step,
                "wru_per_execution": per_execution,
            },
            growth <= WRU_GROWTH_AT_MOST,
            WRU_GROWTH_AT_MOST - growth,
        ),
        "data_passing_added_rru": _target(
            f"data_passing_3 reads at most {DATA_PASSING_ADDED_RRU_AT_MOST:g} RRU per transition more than sample_3",
            added_rru,
            added_rru <= DATA_PASSING_ADDED_RRU_AT_MOST,
            DATA_PASSING_ADDED_RRU_AT_MOST - added_rru,
        ),
        "cold_init_ratio": _target(
            f"<= {COLD_INIT_RATIO_AT_MOST} for api and task_runner (CPU time)",
            cold,
            all(value <= COLD_INIT_RATIO_AT_MOST for value in cold.values()),
            {name: COLD_INIT_RATIO_AT_MOST - value for name, value in cold.items()},
        ),
        "engine_decision_us": _target(
            f"<= {ENGINE_DECISION_US_AT_MOST:g}",
            decision,
            decision <= ENGINE_DECISION_US_AT_MOST,
            ENGINE_DECISION_US_AT_MOST - decision,
        ),
        "runner_overhead_ms": _target(
            f"<= {RUNNER_OVERHEAD_MS_AT_MOST:g}",
            overhead,
            overhead <= RUNNER_OVERHEAD_MS_AT_MOST,
            RUNNER_OVERHEAD_MS_AT_MOST - overhead,
        ),
    }


def results(
    runs: list[WorkloadRun],
    cold: ColdInit,
    decision_us: float,
    overhead: RunnerOverhead,
    environment: dict[str, Any],
) -> dict[str, Any]:
    workloads = {run.workload.name: workload_result(run) for run in runs}
    summary: dict[str, Any] = {
        "sfn_standard_usd_per_1000_transitions": SFN_STANDARD_PER_1000,
        "cheaper_than_sfn_standard": SFN_STANDARD_PER_1000 / workloads["sample_3"]["usd_per_1000_transitions"],
        "cold_init_ratio": cold.ratios,
        "cold_init_ratio_wall_clock": cold.wall_ratios,
        "cold_init_probe_ratio": cold.probe_ratios,
        "cold_init_cpu_ms": cold.medians(cold.cpu_ms),
        "cold_init_wall_ms": cold.medians(cold.wall_ms),
        "cold_init_runs_cpu_ms": cold.cpu_ms,
        "cold_init_runs_wall_ms": cold.wall_ms,
        "cold_init_top_imports": cold.top_imports,
        "engine_decision_us": decision_us,
        "runner_overhead_ms": overhead.process_ms,
        "runner_overhead_detail_ms": {
            "process_botocore_client_stubbed_http": overhead.process_ms,
            "process_fake_client_no_botocore": overhead.process_fake_client_ms,
            "lambda_handler_one_record_stubbed_http": overhead.handler_ms,
            "transitions_per_dispatch": overhead.transitions_per_dispatch,
        },
    }
    return {
        "workloads": workloads,
        **summary,
        "targets": targets(workloads, summary),
        "prices": prices.as_dict(),
        "assumptions": {
            "sfn_seconds_per_task": costs.ASSUMED_SECONDS_PER_TASK,
            "sfn_express_memory_mb": costs.ASSUMED_EXPRESS_MEMORY_MB,
            "sfn_task_lambda_memory_mb": costs.ASSUMED_TASK_LAMBDA_MEMORY_MB,
            "timer_transitions_per_start": TIMER_TRANSITIONS_PER_START,
        },
        "environment": environment,
    }


# -- the table ------------------------------------------------------------------------------------------------


def _usd(value: float) -> str:
    return f"${value:.5f}"


def _row(cells: list[str], widths: list[int]) -> str:
    first, *rest = zip(cells, widths, strict=True)
    return "  ".join([first[0].ljust(first[1]), *(cell.rjust(width) for cell, width in rest)])


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]
    rule = "  ".join("-" * width for width in widths)
    return [_row(header, widths), rule, *(_row(row, widths) for row in rows)]


def _user_function_lines(workloads: dict[str, dict[str, Any]]) -> list[str]:
    """The flows of `lambda` tasks, per execution and beside Step Functions Standard running the same functions."""
    lines = []
    for name, w in workloads.items():
        if "user_lambda_invocations" not in w:
            continue
        functions = w["user_functions_usd_per_1000_transitions"]
        ours, theirs = (
            w["usd_per_1000_transitions_with_user_functions"],
            w["sfn_standard_usd_per_1000_transitions_with_user_functions"],
        )
        wait_ms = costs.ASSUMED_SECONDS_PER_TASK * 1000
        lines += [
            "",
            f"{name}, per execution: {w['wru']:g} WRU, {w['rru']:g} RRU, {w['runner_invocations']} runner "
            f"invocation(s), {w['user_lambda_invocations']} user Lambda invocations; $ per 1,000 transitions:",
            f"  Flow Manager {_usd(w['usd_per_1000_transitions'])} (the runner waiting {wait_ms:.0f} ms per function, "
            f"assumed, is {_usd(w['runner_wait_usd_per_1000_transitions'])} of it)",
            f"    + the functions {_usd(functions)} = {_usd(ours)}",
            f"  SFN Standard {_usd(SFN_STANDARD_PER_1000)} + the same functions {_usd(functions)} = {_usd(theirs)}"
            f" ({theirs / ours:.1f}x Flow Manager's)",
        ]
    return lines


def render(document: dict[str, Any]) -> str:
    workloads: dict[str, dict[str, Any]] = document["workloads"]
    env = document["environment"]
    lines = [
        "Flow Manager cost benchmark: the real handlers in process against moto "
        f"{env['moto']}, Python {env['python']} on {env['machine']} ({env['cpus']} CPUs)",
        f"Prices: on-demand {prices.REGION}, recorded {prices.PRICES_TAKEN}; Lambda arm64 at template MemorySize.",
        "Per execution: its start (the API call) and every runner invocation; the flow's creation is not counted.",
        "",
    ]
    header = [
        "workload",
        "status",
        "trans.",
        "λ inv/tr",
        "WRU/tr",
        "RRU/tr",
        "ms/tr",
        "(moto)",
        "$/1k tr",
        "SFN Std/us",
    ]
    rows = [
        [
            name,
            w["status"],
            str(w["transitions"]),
            f"{w['lambda_invocations_per_transition']:.3f}",
            f"{w['wru_per_transition']:.3f}",
            f"{w['rru_per_transition']:.3f}",
            f"{w['billed_ms_per_transition']:.1f}",
            f"{w['moto_ms_per_transition']:.1f}",
            _usd(w["usd_per_1000_transitions"]),
            f"{SFN_STANDARD_PER_1000 / w['usd_per_1000_transitions']:.1f}x",
        ]
        for name, w in workloads.items()
    ]
    lines += _table(header, rows)
    lines += [
        "λ inv/tr: runner invocations + the starting API call, per transition. ms/tr: billed Lambda ms (API + runner,",
        "each invocation rounded up to 1 ms) per transition, measured in process; (moto): what moto took to answer.",
    ]
    lines += [
        "",
        "Cost per 1,000 transitions by part (DynamoDB writes / reads, Lambda requests / duration; S3 when used):",
    ]
    for name, w in workloads.items():
        part = w["usd_per_1000_transitions_by_part"]
        extra = w["usd_per_1000_transitions_not_included"]
        s3 = (
            f" + S3 {_usd(part['s3_requests'])} ({w['s3_puts']} PUT, {w['s3_gets']} GET)"
            if w["s3_puts"] or w["s3_gets"]
            else ""
        )
        lines.append(
            f"  {name:<16} {_usd(part['dynamodb_writes'])} / {_usd(part['dynamodb_reads'])} / "
            f"{_usd(part['lambda_requests'])} / {_usd(part['lambda_duration'])}{s3}"
            f"   not included: HTTP API {_usd(extra['http_api'])}, logs {_usd(extra['cloudwatch_logs'])} "
            f"({w['log_bytes_per_transition']:.0f} B/tr)"
        )
    for name in BREAKDOWN_WORKLOADS:
        if name not in workloads:
            continue
        lines += ["", f"Where one transition of {name} goes (AWS calls per transition, start included):"]
        rows = [
            [
                op["operation"],
                f"{op['calls_per_transition']:.3f}",
                f"{op['wru_per_transition']:.3f}",
                f"{op['rru_per_transition']:.3f}",
                f"{op['gsi_wru'] / workloads[name]['transitions']:.3f}",
            ]
            for op in workloads[name]["operations"]
        ]
        lines += ["  " + line for line in _table(["operation", "calls", "WRU", "RRU", "of which GSI"], rows)]

    lines += [
        "",
        "Step Functions for the same flows, $ per 1,000 transitions (orchestration / with a Lambda per task):",
    ]
    rows = []
    for name, w in workloads.items():
        standard, express = w["sfn_standard_usd_per_1000_transitions"], w["sfn_express_usd_per_1000_transitions"]
        rows.append(
            [
                name,
                _usd(w["usd_per_1000_transitions"]),
                f"{_usd(standard['orchestration'])} / {_usd(standard['with_lambda_tasks'])}",
                f"{_usd(express['orchestration'])} / {_usd(express['with_lambda_tasks'])}",
                f"{express['assumed_duration_seconds']:.1f} s",
            ]
        )
    lines += [
        "  " + line
        for line in _table(["workload", "Flow Manager", "SFN Standard", "SFN Express", "Express duration"], rows)
    ]
    lines.append(
        f"  (assumed: {costs.ASSUMED_SECONDS_PER_TASK * 1000:.0f} ms per task, Express at "
        f"{costs.ASSUMED_EXPRESS_MEMORY_MB} MB, a task's Lambda at {costs.ASSUMED_TASK_LAMBDA_MEMORY_MB} MB)"
    )

    lines += _user_function_lines(workloads)

    cold_ms, cold_wall = document["cold_init_cpu_ms"], document["cold_init_wall_ms"]
    detail = document["runner_overhead_detail_ms"]
    lines += [
        "",
        "Speed:",
        f"  cold import, CPU ms (wall ms), medians of 5 fresh interpreters: api {cold_ms['api']:.0f} "
        f"({cold_wall['api']:.0f}), task_runner {cold_ms['task_runner']:.0f} ({cold_wall['task_runner']:.0f}), "
        f"boto3 {cold_ms['boto3']:.0f} ({cold_wall['boto3']:.0f})",
    ]
    probes, ratios = document["cold_init_probe_ratio"], document["cold_init_ratio"]
    lines.append(
        f"  the api's ratio, built up: botocore + pydantic + powertools Logger, nothing of ours "
        f"{probes['stack_floor']:.2f}; flowcore's modules with no router {probes['api_without_router']:.2f}; "
        f"the handler {ratios['api']:.2f}"
    )
    for handler, top in document["cold_init_top_imports"].items():
        lines.append(f"    {handler} imports most: " + ", ".join(f"{t['module']} {t['ms']:.0f} ms" for t in top[:5]))
    lines += [
        f"  engine decide: {document['engine_decision_us']:.2f} µs per decision (3-task sample)",
        f"  runner per transition, AWS stubbed: {detail['process_botocore_client_stubbed_http']:.3f} ms "
        f"(botocore client, HTTP answered in process); {detail['process_fake_client_no_botocore']:.3f} ms "
        f"(no botocore); {detail['lambda_handler_one_record_stubbed_http']:.3f} ms (whole handler, one record); "
        f"a dispatch of the sample's task2, which runs task2 and task3 "
        f"({detail['transitions_per_dispatch']} transitions)",
        "  wall time per workload: " + ", ".join(f"{name} {w['wall_seconds']:.1f} s" for name, w in workloads.items()),
        "",
        "Targets:",
    ]
    for name, target in document["targets"].items():
        verdict = "met   " if target["met"] else "MISSED"
        lines.append(f"  [{verdict}] {name} {target['rule']}: {_describe(target['value'])}")
    return "\n".join(lines)


def _describe(value: Any, key: str = "") -> str:
    if isinstance(value, dict):
        return ", ".join(f"{name} {_describe(item, name)}" for name, item in value.items())
    if key == "relative_difference":
        return f"{value:+.1%}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
