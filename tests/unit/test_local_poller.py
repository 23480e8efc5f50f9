"""The local stack's poller keeps polling through errors, and stops when asked."""

from __future__ import annotations

import threading

import pytest

from local.poller import Poller


class FlakyPump:
    """Raises on its first poll, then counts polls until it has seen `wanted` of them."""

    def __init__(self, wanted: int) -> None:
        self.polls = 0
        self.wanted = wanted
        self.enough = threading.Event()

    def poll(self) -> int:
        self.polls += 1
        if self.polls == 1:
            raise ConnectionError("moto is not there")
        if self.polls >= self.wanted:
            self.enough.set()
        return 0


def test_an_error_is_logged_and_polling_continues(caplog: pytest.LogCaptureFixture) -> None:
    pump = FlakyPump(wanted=3)
    poller = Poller("test-poller", pump, interval=0.01)

    poller.start()
    try:
        assert pump.enough.wait(5)
    finally:
        poller.stop()

    assert poller.errors == 1
    assert "test-poller: poll failed; polling continues" in caplog.text


def test_stop_ends_the_thread() -> None:
    pump = FlakyPump(wanted=2)
    poller = Poller("test-poller", pump, interval=0.01)
    poller.start()
    assert pump.enough.wait(5)

    poller.stop()
    polls = pump.polls

    assert not any(thread.name == "test-poller" for thread in threading.enumerate())
    assert pump.polls == polls
