"""`make run`: the Flow Manager API on http://localhost:3000, backed by moto, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from local.lambdas import DEFAULT_FUNCTIONS_DIR  # standard library only: cheap before the signal handlers

log = logging.getLogger("local")

EXIT_PORT_UNAVAILABLE = 2
EXIT_DATA_UNREADABLE = 3
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
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
    parser.add_argument("--host", default="127.0.0.1", help="address the servers listen on (127.0.0.1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("FLOW_MANAGER_DATA") or DEFAULT_DATA_DIR),
        help="folder the flows and executions are saved in and loaded from (env FLOW_MANAGER_DATA; .local-data/)",
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
    return parser.parse_args(argv)


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
    args = parse_args(argv)
    signals = _StopSignals()  # before the slow imports below, so an early Ctrl-C is a clean stop too

    from local.logs import configure_local
    from local.runtime import DataUnreadable, LocalRuntime, PortUnavailable

    configure_local(args.log_level)
    if signals.received:
        return 0
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
    )
    try:
        runtime.start()
    except PortUnavailable as error:
        sys.stderr.write(f"flow-manager: {error}\n")  # one plain line, no traceback
        return EXIT_PORT_UNAVAILABLE
    except DataUnreadable as error:
        sys.stderr.write(f"flow-manager: {error}\n")
        return EXIT_DATA_UNREADABLE
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
