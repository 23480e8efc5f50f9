"""Cold-import probe: the least an API on this project's stack imports, with nothing of Flow Manager's.

botocore's client machinery (what `flowcore.adapters.clients` imports), pydantic with one small model, and powertools'
`Logger`. `make bench` times it as it times the handlers: its ratio to `import boto3` is the floor under
the API's, whatever the API's routing and validation are made of.
"""

from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.session import get_session
from pydantic import BaseModel, Field

logger = Logger(service="stack-floor")
CLIENT_PARTS = (Config, get_session)


class Page(BaseModel):
    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=25, ge=1, le=100)
