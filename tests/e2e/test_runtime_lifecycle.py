"""Starting and stopping the local stack leaves the process as it found it (the tests share it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from local.runtime import LocalRuntime
from tests.conftest import ROOT
from tests.e2e.conftest import command_environment

pytestmark = pytest.mark.e2e


def test_stop_restores_the_environment_and_frees_the_ports() -> None:
    before = dict(os.environ)

    with LocalRuntime(port=0, moto_port=0) as runtime:
        port, moto_port = runtime.port, runtime.moto_port
        assert os.environ["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{moto_port}"
        assert os.environ["MOTO_PORT"] == str(moto_port)

    assert dict(os.environ) == before
    # The same ports can be taken again at once: both servers closed their sockets.
    with LocalRuntime(port=port, moto_port=moto_port) as again:
        assert (again.port, again.moto_port) == (port, moto_port)


def test_stop_is_safe_twice_and_before_start() -> None:
    runtime = LocalRuntime(port=0, moto_port=0)
    runtime.stop()
    runtime.start()
    runtime.stop()
    runtime.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_command_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    command = [sys.executable, "-m", "local", "--port", "0", "--moto-port", "0"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=command_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        seen: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:  # the stack logs this line once it serves requests
            seen.append(line)
            if "press Ctrl-C to stop" in line:
                break
        else:
            pytest.fail(f"the stack never came up: {''.join(seen)}")
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, "".join(seen) + rest
    assert f"{signum.name} received; stopping" in rest
    assert rest.rstrip().endswith("stopped")
    assert "Traceback" not in rest
