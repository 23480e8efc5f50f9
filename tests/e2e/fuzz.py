"""Schemathesis against the local stack: every check, a fixed seed, a bounded number of examples.

`make test` runs it small (tests/e2e/test_fuzz.py); `make fuzz` runs it longer (`python -m tests.e2e.fuzz
--max-examples 500`, or any other schemathesis option after `--`). Both start the whole local stack on free
ports, so they need nothing running and nothing from the network. The exceptions the checks allow are in
`schemathesis.toml`, each with its reason.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 20_241_130
TEST_EXAMPLES = 25


def command(base_url: str, max_examples: int, seed: int = SEED, extra: tuple[str, ...] = ()) -> list[str]:
    """The schemathesis run over the stack at `base_url`."""
    return [
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--max-examples",
        str(max_examples),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        *extra,
    ]


def fuzz(
    base_url: str, max_examples: int, seed: int = SEED, extra: tuple[str, ...] = (), token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run it from the checkout's root, where schemathesis finds its configuration. With `token` (a stack under
    `--auth jwt`), its requests carry it, and its authentication checks send some without it, or with a wrong one."""
    environment = {**os.environ, "NO_COLOR": "1"}
    authorization = ("--header", f"Authorization: Bearer {token}") if token else ()
    return subprocess.run(
        command(base_url, max_examples, seed, (*authorization, *extra)),
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=3_600,
    )


def fuzzing_token(runtime: object) -> str:
    """A token with every scope from the stack's own authority (a stack started with `auth="jwt"`)."""
    authority = getattr(runtime, "authority", None)
    assert authority is not None, "the stack runs without --auth jwt"
    return str(authority.issue("fuzzer", lifetime=3 * 3600))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.fuzz", description=__doc__)
    parser.add_argument("--max-examples", type=int, default=500, help="cases per operation and phase (500)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("extra", nargs="*", help="more schemathesis options, after --")
    args = parser.parse_args(argv)

    from local.logs import configure_local
    from local.runtime import LocalRuntime

    configure_local("WARNING")  # the stack's own lines: only what goes wrong
    with LocalRuntime(port=0, moto_port=0, log_level="WARNING", auth="jwt") as runtime:
        done = fuzz(runtime.url, args.max_examples, args.seed, tuple(args.extra), token=fuzzing_token(runtime))
    sys.stdout.write(done.stdout + done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
