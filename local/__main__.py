"""`make run`: the Flow Manager API on http://localhost:3000, backed by moto, until Ctrl-C.

`python -m local token --sub alice --scope "flows:read flows:write"` prints a token the stack accepts under
`--auth jwt`, signed with the key in the data folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from local.lambdas import DEFAULT_FUNCTIONS_DIR  # standard library only: cheap before the signal handlers

if TYPE_CHECKING:
    from local.auth import LocalAuthority

log = logging.getLogger("local")

EXIT_PORT_UNAVAILABLE = 2
EXIT_DATA_UNREADABLE = 3
#: `--auth none` on an address other machines reach.
EXIT_UNSAFE_BINDING = 2
#: Where `make run` keeps its data unless told otherwise: `.local-data/` in the checkout (ignored by git).
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".local-data"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {port}")
    return port


def _seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"a number of seconds above 0, not {raw}")
    return seconds


def _add_data_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("FLOW_MANAGER_DATA") or DEFAULT_DATA_DIR),
        help=help_text,
    )


def _add_jwt_settings(parser: argparse.ArgumentParser) -> None:
    from local.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER

    parser.add_argument(
        "--jwt-issuer",
        default=os.environ.get("LOCAL_JWT_ISSUER") or DEFAULT_ISSUER,
        metavar="ISSUER",
        help=f"the `iss` tokens carry and --auth jwt expects (env LOCAL_JWT_ISSUER; {DEFAULT_ISSUER})",
    )
    parser.add_argument(
        "--jwt-audience",
        default=os.environ.get("LOCAL_JWT_AUDIENCE") or DEFAULT_AUDIENCE,
        metavar="AUDIENCE",
        help=f"the `aud` tokens carry and --auth jwt expects (env LOCAL_JWT_AUDIENCE; {DEFAULT_AUDIENCE})",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from local.auth import AUTH_MODES, AUTH_NONE

    parser = argparse.ArgumentParser(
        prog="python -m local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=_port, default=os.environ.get("PORT", "3000"), help="API port (env PORT; 3000)")
    parser.add_argument(
        "--moto-port",
        type=_port,
        default=os.environ.get("MOTO_PORT", "5000"),
        help="moto server port (env MOTO_PORT; 5000)",
    )
    parser.add_argument(
        "--lambda-port",
        type=_port,
        default=os.environ.get("LAMBDA_PORT", "3001"),
        help="local Lambda endpoint's port (env LAMBDA_PORT; 3001)",
    )
    parser.add_argument(
        "--functions",
        type=Path,
        default=Path(os.environ.get("FUNCTIONS_DIR") or DEFAULT_FUNCTIONS_DIR),
        metavar="DIR",
        help="folder of the Python handlers the Lambda endpoint runs, <name>.py each (env FUNCTIONS_DIR; "
        "examples/functions/)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the servers listen on (127.0.0.1); an address other machines reach needs --auth jwt",
    )
    parser.add_argument(
        "--auth",
        default=os.environ.get("LOCAL_AUTH") or AUTH_NONE,
        help="none: every request is the development tenant `dev`, no token (loopback only); jwt: every route but "
        "GET /, /health and /ui needs a token, checked as API Gateway's JWT authorizer does (env LOCAL_AUTH; none)",
    )
    _add_jwt_settings(parser)
    _add_data_dir(
        parser,
        "folder the flows, executions and keys are saved in and loaded from (env FLOW_MANAGER_DATA; .local-data/)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        default=os.environ.get("FLOW_MANAGER_FRESH", "").lower() in _TRUE,
        help="start empty; the last save is kept beside it as .previous (env FLOW_MANAGER_FRESH=1)",
    )
    parser.add_argument(
        "--save-every",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds between two saves while running (60); the stack also saves on a clean stop",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    args = parser.parse_args(argv)
    args.auth = args.auth.strip().lower()
    if args.auth not in AUTH_MODES:  # also the value LOCAL_AUTH gives, which argparse's choices would not check
        parser.error(f"--auth (or LOCAL_AUTH) is one of {', '.join(AUTH_MODES)}, not {args.auth!r}")
    return args


def parse_token_args(argv: list[str]) -> argparse.Namespace:
    from local.auth import ALL_SCOPES, DEFAULT_LIFETIME

    parser = argparse.ArgumentParser(
        prog="python -m local token",
        description="Print a token the local stack accepts under --auth jwt (and nothing else: TOKEN=$(...) works), "
        "signed with the key in the data folder (made there if the stack has not made it yet).",
    )
    parser.add_argument("--sub", required=True, help="the caller: the tenant, unless TENANT_CLAIM names another claim")
    parser.add_argument(
        "--scope",
        default=" ".join(ALL_SCOPES),
        help=f'space-separated scopes (default every one: "{" ".join(ALL_SCOPES)}")',
    )
    parser.add_argument(
        "--lifetime", type=_seconds, default=float(DEFAULT_LIFETIME), metavar="SECONDS", help="seconds until exp (3600)"
    )
    _add_jwt_settings(parser)
    _add_data_dir(parser, "the stack's data folder, where its signing key is (env FLOW_MANAGER_DATA; .local-data/)")
    return parser.parse_args(argv)


def token(argv: list[str]) -> int:
    """`python -m local token`: print one token, signed with the stack's key."""
    from local.auth import LocalAuthority

    args = parse_token_args(argv)
    try:
        authority = LocalAuthority(args.data_dir, issuer=args.jwt_issuer, audience=args.jwt_audience)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"flow-manager: cannot read the signing key in {args.data_dir}: {error}\n")
        return EXIT_DATA_UNREADABLE
    sys.stdout.write(authority.issue(args.sub, args.scope, lifetime=args.lifetime) + "\n")
    return 0


def _token_command(args: argparse.Namespace) -> str:
    """The exact `python -m local token` line that signs for this stack, its non-default settings included."""
    from local.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER

    words = [
        '.venv/bin/python -m local token --sub alice --scope "flows:read flows:write executions:read executions:write"'
    ]
    if args.data_dir.resolve() != DEFAULT_DATA_DIR.resolve():
        words.append(f"--data-dir {shlex.quote(str(args.data_dir))}")
    if args.jwt_issuer != DEFAULT_ISSUER:
        words.append(f"--jwt-issuer {shlex.quote(args.jwt_issuer)}")
    if args.jwt_audience != DEFAULT_AUDIENCE:
        words.append(f"--jwt-audience {shlex.quote(args.jwt_audience)}")
    return " ".join(words)


def _announce_auth(args: argparse.Namespace, authority: LocalAuthority | None, url: str) -> None:
    if authority is None:
        log.info("auth: none; every request is the development tenant 'dev', holding every scope, no token needed")
        return
    log.info(
        "auth: jwt, as API Gateway's JWT authorizer: issuer %s, audience %s, RS256 key %s (kid %s)",
        authority.issuer,
        ", ".join(authority.audiences),
        authority.key_path,
        authority.kid,
    )
    log.info("auth: GET /, /health and /ui need no token; every other request does. Get one (valid an hour) with")
    log.info("auth:   TOKEN=$(%s)", _token_command(args))
    log.info('auth:   curl -H "Authorization: Bearer $TOKEN" %s/flows', url)


class _StopSignals:
    """SIGINT and SIGTERM ask for a clean stop; a second one ends the process at once.

    The handler only appends to a list: a Python signal handler runs on the main thread between any two
    bytecodes, even inside `Event.wait` or a log write, where taking the same lock again would deadlock.
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.received:
            os._exit(130)
        self.received.append(signal.Signals(signum).name)

    def wait(self) -> str:
        while not self.received:
            time.sleep(0.2)
        return self.received[0]


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["token"]:
        return token(arguments[1:])
    signals = _StopSignals()  # before the slow imports below, so an early Ctrl-C is a clean stop too
    args = parse_args(arguments)
    from local.auth import AUTH_JWT, LocalAuthority, UnsafeBinding, check_binding

    try:
        check_binding(args.host, args.auth)
    except UnsafeBinding as error:
        sys.stderr.write(f"flow-manager: {error}\n")
        return EXIT_UNSAFE_BINDING

    from local.logs import configure_local
    from local.runtime import DataUnreadable, LocalRuntime, PortUnavailable

    configure_local(args.log_level)
    if signals.received:
        return 0
    authority = None
    if args.auth == AUTH_JWT:
        try:
            authority = LocalAuthority(args.data_dir, issuer=args.jwt_issuer, audience=args.jwt_audience)
        except (OSError, ValueError) as error:
            sys.stderr.write(f"flow-manager: cannot read the signing key in {args.data_dir}: {error}\n")
            return EXIT_DATA_UNREADABLE
    runtime = LocalRuntime(
        port=args.port,
        moto_port=args.moto_port,
        host=args.host,
        log_level=args.log_level,
        data_dir=args.data_dir,
        fresh=args.fresh,
        save_interval=args.save_every,
        functions_dir=args.functions,
        lambda_port=args.lambda_port,
        auth=args.auth,
        authority=authority,
    )
    try:
        runtime.start()
    except PortUnavailable as error:
        sys.stderr.write(f"flow-manager: {error}\n")  # one plain line, no traceback
        return EXIT_PORT_UNAVAILABLE
    except DataUnreadable as error:
        sys.stderr.write(f"flow-manager: {error}\n")
        return EXIT_DATA_UNREADABLE
    _announce_auth(args, authority, runtime.url)
    try:
        if not signals.received:
            log.info("press Ctrl-C to stop")
        log.info("%s received; stopping", signals.wait())
    finally:
        runtime.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
