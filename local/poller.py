"""Threads that keep the event sources flowing into their functions, as Lambda's pollers do."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger("local.poller")

#: After repeated errors (moto restarting, say) a poller slows down to this instead of spinning.
MAX_BACKOFF_SECONDS = 2.0


class Pump(Protocol):
    def poll(self) -> int:
        """Deliver what is waiting; return how many records or messages were delivered."""
        ...


class Poller:
    """Calls `pump.poll()` every `interval` seconds (at once again while there is work) until stopped."""

    def __init__(self, name: str, pump: Pump, interval: float = 0.05) -> None:
        self.name = name
        self._pump = pump
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for the batch in hand (a `wait` task may take a few seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s is still busy after %.0f s; leaving it behind", self.name, timeout)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                delivered = self._pump.poll()
            except Exception as error:
                failures += 1
                self.errors += 1
                if failures == 1:
                    log.exception("%s: poll failed; polling continues", self.name)
                else:
                    log.warning("%s: poll failed again (%d in a row): %r", self.name, failures, error)
                delay = min(MAX_BACKOFF_SECONDS, self._interval * 2**failures)
            else:
                failures = 0
                delay = 0.0 if delivered else self._interval  # more may be waiting right behind a full batch
            self._stop.wait(delay)
