"""One logger and one metrics object for the service; the service name comes from POWERTOOLS_SERVICE_NAME.

No tracer (X-Ray SDK) anywhere: importing it cost the API ~110 ms of a ~400 ms cold start. The API
function keeps `Tracing: Active`, so Lambda still records a segment per invocation without the SDK.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="FlowManager")
