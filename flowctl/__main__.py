"""`python -m flowctl`, the same as the `flowctl` script."""

from flowctl.main import app

app()
