"""What a measured run costs, and what Step Functions would charge for the same flows. Pure arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import prices

#: Step Functions comparison assumptions (not prices): a task state that calls a Lambda function takes this
#: long end to end, and an Express workflow holds the minimum memory step.
ASSUMED_SECONDS_PER_TASK = 0.05
ASSUMED_EXPRESS_MEMORY_MB = 64
#: A Lambda function per task state, for the "with compute" columns: the template's size, and the same time.
ASSUMED_TASK_LAMBDA_MEMORY_MB = 256


@dataclass(frozen=True)
class Usage:
    """What one execution consumed (its start included)."""

    transitions: int
    wru: float
    rru: float
    lambda_invocations: int
    lambda_gb_seconds: float
    sfn_transitions: int = 0  # timer state machine transitions (retries, long waits): none in these flows
    api_requests: int = 0
    log_bytes: int = 0
    s3_puts: int = 0  # the payload store: values too large for an item
    s3_gets: int = 0


@dataclass(frozen=True)
class Cost:
    dynamodb_writes: float
    dynamodb_reads: float
    lambda_requests: float
    lambda_duration: float
    step_functions: float
    s3_requests: float = 0.0

    @property
    def total(self) -> float:
        return (
            self.dynamodb_writes
            + self.dynamodb_reads
            + self.lambda_requests
            + self.lambda_duration
            + self.step_functions
            + self.s3_requests
        )

    def scaled(self, factor: float) -> dict[str, float]:
        return {
            "dynamodb_writes": self.dynamodb_writes * factor,
            "dynamodb_reads": self.dynamodb_reads * factor,
            "lambda_requests": self.lambda_requests * factor,
            "lambda_duration": self.lambda_duration * factor,
            "step_functions": self.step_functions * factor,
            "s3_requests": self.s3_requests * factor,
            "total": self.total * factor,
        }


def cost(usage: Usage) -> Cost:
    """DynamoDB on-demand units, Lambda requests and arm64 GB-seconds, timer transitions, the payload store's
    requests; stream reads are free."""
    return Cost(
        dynamodb_writes=usage.wru * prices.DYNAMODB_USD_PER_WRU,
        dynamodb_reads=usage.rru * prices.DYNAMODB_USD_PER_RRU,
        lambda_requests=usage.lambda_invocations * prices.LAMBDA_USD_PER_REQUEST,
        lambda_duration=usage.lambda_gb_seconds * prices.LAMBDA_ARM64_USD_PER_GB_SECOND,
        step_functions=usage.sfn_transitions * prices.SFN_STANDARD_USD_PER_TRANSITION,
        s3_requests=usage.s3_puts * prices.S3_USD_PER_PUT + usage.s3_gets * prices.S3_USD_PER_GET,
    )


def per_1000_transitions(usage: Usage) -> float:
    return cost(usage).total / usage.transitions * 1000


def beside_the_headline(usage: Usage) -> dict[str, float]:
    """Charges issue 5 leaves out of `usd_per_1000_transitions`, per 1,000 transitions: the HTTP API request
    that starts the execution, and CloudWatch Logs ingestion of the functions' own log lines."""
    per = 1000 / usage.transitions
    return {
        "http_api": usage.api_requests * prices.HTTP_API_USD_PER_REQUEST * per,
        "cloudwatch_logs": usage.log_bytes / 1e9 * prices.CLOUDWATCH_LOGS_USD_PER_GB * per,
    }


def _steps(seconds: float, step: float) -> float:
    return math.ceil(round(seconds / step, 9)) * step


def lambda_task_usd(seconds: float = ASSUMED_SECONDS_PER_TASK) -> float:
    """One Lambda invocation doing one task's work, as a Step Functions task state would call it."""
    billed = math.ceil(round(seconds * 1000, 6)) / 1000
    gb_seconds = billed * ASSUMED_TASK_LAMBDA_MEMORY_MB / 1024
    return prices.LAMBDA_USD_PER_REQUEST + gb_seconds * prices.LAMBDA_ARM64_USD_PER_GB_SECOND


def sfn_standard_per_1000() -> dict[str, float]:
    """Standard: one state transition per task; with compute, each task state also invokes a Lambda function."""
    orchestration = prices.SFN_STANDARD_USD_PER_TRANSITION * 1000
    return {"orchestration": orchestration, "with_lambda_tasks": orchestration + lambda_task_usd() * 1000}


def sfn_express_per_1000(transitions: int, steps: int) -> dict[str, float]:
    """Express: one request per execution plus GB-seconds for its duration (`steps` tasks one after another)."""
    seconds = _steps(steps * ASSUMED_SECONDS_PER_TASK, prices.SFN_EXPRESS_DURATION_STEP_S)
    memory_gb = max(prices.SFN_EXPRESS_MEMORY_STEP_MB, ASSUMED_EXPRESS_MEMORY_MB) / 1024
    execution = prices.SFN_EXPRESS_USD_PER_REQUEST + seconds * memory_gb * prices.SFN_EXPRESS_USD_PER_GB_SECOND
    orchestration = execution / transitions * 1000
    return {
        "orchestration": orchestration,
        "with_lambda_tasks": orchestration + lambda_task_usd() * 1000,
        "assumed_duration_seconds": seconds,
    }
