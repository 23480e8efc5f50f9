"""On-demand list prices, us-east-1, in US dollars: the only place the benchmark keeps prices.

Each value names the public page it comes from. The values were recorded on PRICES_TAKEN from issue 5,
which quotes those pages; they were not fetched live by the benchmark. Check the pages before quoting a
result as current.
"""

from __future__ import annotations

from typing import Final

PRICES_TAKEN: Final = "2026-11-25"
REGION: Final = "us-east-1"

# DynamoDB on-demand (PAY_PER_REQUEST, Standard table class).
# https://aws.amazon.com/dynamodb/pricing/on-demand/
DYNAMODB_USD_PER_WRU: Final = 0.625 / 1_000_000
DYNAMODB_USD_PER_RRU: Final = 0.125 / 1_000_000
# Reads of the table's stream by a Lambda event source mapping are free (same page, "DynamoDB Streams").
DYNAMODB_STREAMS_READ_BY_LAMBDA_USD: Final = 0.0

# Lambda, arm64 (the template's Architectures), first pricing tier.
# https://aws.amazon.com/lambda/pricing/
LAMBDA_USD_PER_REQUEST: Final = 0.20 / 1_000_000
LAMBDA_ARM64_USD_PER_GB_SECOND: Final = 0.0000133334

# Step Functions. https://aws.amazon.com/step-functions/pricing/
SFN_STANDARD_USD_PER_TRANSITION: Final = 0.025 / 1_000
SFN_EXPRESS_USD_PER_REQUEST: Final = 1.00 / 1_000_000
SFN_EXPRESS_USD_PER_GB_SECOND: Final = 0.00001667
#: Express bills memory in 64 MB steps (64 MB at least) and duration in 100 ms steps.
SFN_EXPRESS_MEMORY_STEP_MB: Final = 64
SFN_EXPRESS_DURATION_STEP_S: Final = 0.1

# S3 Standard requests (the payload store: values over the inline limit). https://aws.amazon.com/s3/pricing/
S3_USD_PER_PUT: Final = 0.005 / 1_000
S3_USD_PER_GET: Final = 0.0004 / 1_000

# SQS: Lambda's polling of the failure queue is not charged to the function's owner, and the queue only
# receives messages when a batch fails over. https://aws.amazon.com/sqs/pricing/
SQS_READ_BY_LAMBDA_USD: Final = 0.0

# Not part of `usd_per_1000_transitions` (issue 5 prices DynamoDB and Lambda); reported beside it.
# API Gateway HTTP API, first 300 million requests a month. https://aws.amazon.com/api-gateway/pricing/
HTTP_API_USD_PER_REQUEST: Final = 1.00 / 1_000_000
# CloudWatch Logs, Standard log class ingestion. https://aws.amazon.com/cloudwatch/pricing/
CLOUDWATCH_LOGS_USD_PER_GB: Final = 0.50

SOURCES: Final = {
    "dynamodb": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "step_functions": "https://aws.amazon.com/step-functions/pricing/",
    "sqs": "https://aws.amazon.com/sqs/pricing/",
    "s3": "https://aws.amazon.com/s3/pricing/",
    "api_gateway": "https://aws.amazon.com/api-gateway/pricing/",
    "cloudwatch_logs": "https://aws.amazon.com/cloudwatch/pricing/",
}


def as_dict() -> dict[str, object]:
    """The price table as written into results.json."""
    return {
        "taken": PRICES_TAKEN,
        "region": REGION,
        "dynamodb_usd_per_million_wru": DYNAMODB_USD_PER_WRU * 1e6,
        "dynamodb_usd_per_million_rru": DYNAMODB_USD_PER_RRU * 1e6,
        "lambda_usd_per_million_requests": LAMBDA_USD_PER_REQUEST * 1e6,
        "lambda_arm64_usd_per_gb_second": LAMBDA_ARM64_USD_PER_GB_SECOND,
        "sfn_standard_usd_per_1000_transitions": SFN_STANDARD_USD_PER_TRANSITION * 1000,
        "sfn_express_usd_per_million_requests": SFN_EXPRESS_USD_PER_REQUEST * 1e6,
        "sfn_express_usd_per_gb_second": SFN_EXPRESS_USD_PER_GB_SECOND,
        "http_api_usd_per_million_requests": HTTP_API_USD_PER_REQUEST * 1e6,
        "cloudwatch_logs_usd_per_gb": CLOUDWATCH_LOGS_USD_PER_GB,
        "sources": dict(SOURCES),
    }
