"""One logger and one metrics object for the service; the service name comes from POWERTOOLS_SERVICE_NAME.

No tracer here: only the API traces (X-Ray). The stream consumers run once per transition, where a
trace would cost more than the transition itself and its SDK more than a third of the cold start.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="FlowManager")
