"""What every flowctl command runs with: the global options (accepted before the command's name and after it),
the runtime (HTTP transport, console, environment, clock: what tests stand in for), the JSON parameter type, and the
exit codes every way a command ends maps to.

Exit codes: 0 done (an execution watched to COMPLETED); 1 an execution watched to FAILED; 2 one watched to TIMED_OUT
or CANCELLED; 3 the command could not do what was asked: a usage error, no connection, or an error answer of the
API (4xx, 5xx); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx
from rich.console import Console

from flowctl import config
from flowctl.client import ApiClient, FlowctlError

EXIT_OK, EXIT_FAILED, EXIT_STOPPED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Runtime:
    """What a command runs with: the global options, and what tests stand in for (the HTTP transport, the
    console, the environment, the clock)."""

    options: config.Options = field(default_factory=config.Options)
    environ: Mapping[str, str] | None = None
    transport: httpx.BaseTransport | None = None
    console: Console | None = None
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def client(self) -> ApiClient:
        return config.client(self.options, os.environ if self.environ is None else self.environ, self.transport)

    @property
    def out(self) -> Console:
        if self.console is None:
            self.console = Console(highlight=False)
        return self.console

    def emit(self, document: Any, human: Callable[[], Any]) -> None:
        """The API's JSON with `--output json`, else what `human` renders."""
        if self.options.json:
            click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            self.out.print(human())


def runtime() -> Runtime:
    return click.get_current_context().ensure_object(Runtime)


# -- global options: accepted before the command's name and after it ------------------------------------------


@dataclass(frozen=True)
class Approval:
    """`approve --output JSON`: the approval's output, not a format."""

    text: str


class OutputFormat(click.Choice[str]):
    def __init__(self) -> None:
        super().__init__(["table", "json"], case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Approval):
            return value
        try:
            return str(super().convert(value, param, ctx)).lower()
        except click.BadParameter:
            if ctx is not None and ctx.info_name == "approve":
                return Approval(str(value))
            self.fail(f"{value!r} is neither table nor json (a callback's output goes in `approve --result`)")


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keeps a global option's value, wherever it was given; not given, it changes nothing."""
    if isinstance(value, Approval):
        ctx.ensure_object(Runtime).options.approval = value.text
    elif value is not None and value is not False:
        setattr(ctx.ensure_object(Runtime).options, str(param.name), value)
    return value


class GlobalOption(click.Option):
    """An option every command takes (listed under "Global options" in its help)."""


def _global(*names: str, **settings: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(*names, cls=GlobalOption, expose_value=False, callback=_remember, **settings)


GLOBAL_OPTIONS = (
    _global(
        "--output", "-o", type=OutputFormat(), help="table (default) for people; json: the API's JSON, for scripts."
    ),
    _global("--endpoint", metavar="URL", help="The API's base URL (env FLOW_API_URL; http://localhost:3000)."),
    _global("--token", metavar="JWT", help="Sent as `Authorization: Bearer` (env FLOW_TOKEN)."),
    _global(
        "--sigv4",
        is_flag=True,
        default=None,
        help="Sign requests with SigV4 (execute-api) for an IAM-mode stack; the default with env FLOW_AUTH=iam "
        "and no token.",
    ),
    _global("--profile", metavar="NAME", help="AWS profile for --sigv4 and --stack (default: AWS_PROFILE)."),
    _global("--region", metavar="REGION", help="AWS region for --sigv4 and --stack."),
    _global("--stack", metavar="NAME", help="Read the API URL from the deployed stack's ApiUrl output."),
    _global("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Per request (30)."),
)


def global_options[F: Callable[..., Any]](function: F) -> F:
    """The global options, after the command's own in its help."""
    for option in reversed(GLOBAL_OPTIONS):
        function = option(function)
    return function


class JsonValue(click.ParamType[Any]):
    """A JSON value given inline, or as `@FILE` (`@-`: standard input)."""

    name = "JSON|@FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value
        if value.startswith("@"):
            source = value[1:]
            try:
                text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
            except OSError as error:
                self.fail(f"cannot read {source}: {error.strerror or error}", param, ctx)
        try:
            return json.loads(text)
        except ValueError as error:
            self.fail(f"not JSON ({error})", param, ctx)


def _format_options(command: click.Command, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    own: list[tuple[str, str]] = []
    shared: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
        if record:
            (shared if isinstance(param, GlobalOption) else own).append(record)
    for title, records in (("Options", own), ("Global options", shared)):
        if records:
            with formatter.section(title):
                formatter.write_dl(records)


class FlowctlCommand(click.Command):
    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_options(self, ctx, formatter)


class FlowctlGroup(click.Group):
    """Maps every way a command ends to its exit code, and shows every error as one `error:` line."""

    command_class = FlowctlCommand
    group_class = type

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            code = self._main(args, prog_name, **extra)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException as error:
            error.show()
            code = EXIT_ERROR
        except FlowctlError as error:
            click.echo(f"error: {error}", err=True)
            code = EXIT_ERROR
        sys.exit(code)

    def _main(self, args: Sequence[str] | None, prog_name: str | None, **extra: Any) -> int:
        answer = super().main(args, prog_name or "flowctl", standalone_mode=False, **extra)
        return answer if isinstance(answer, int) else EXIT_OK


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
