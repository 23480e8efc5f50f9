"""One logger, tracer and metrics for the service; the service name comes from POWERTOOLS_SERVICE_NAME."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="FlowManager")
