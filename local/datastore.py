"""The local stack's data on disk: the table's items and the pending timers, saved and loaded again.

One JSON Lines file, `<data dir>/flow-manager.jsonl`: a header line, then one line per item
(`{"item": <DynamoDB JSON>}`) and per pending timer (`{"timer": {"name", "input", "due"}}`). It is written
to a temporary file beside it and renamed over the old one, so a crash mid-save leaves the previous save.

What survives a restart, and what happens to an execution that was RUNNING at the stop:

- Every item: flows, their versions, executions and their runs, as they were at the save.
- Timers (retries with backoff, long `wait` tasks, execution timeouts, lease reclaims) start again with the
  time they had left; one that fell due while the stack was down fires at once.
- Stream records and the failure queue do not survive. Instead, each loaded item that the event source
  mapping's FilterCriteria would dispatch (a run `PENDING`, an execution `RUNNING`) gets its stream record
  again, as if written anew. The runner is built for redelivered records: a `PENDING` run is run, and an
  execution's record walks its path to where it stopped and writes the missing run, or does nothing when it
  is open or ended. So a RUNNING execution carries on from where it was after a restart.
- A run claimed by a runner at the instant of a crash (never on a clean stop, which lets the runner finish
  its batch) stays RUNNING until its execution is cancelled (`POST /executions/{id}/cancel`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

log = logging.getLogger("local.data")

FILE_NAME = "flow-manager.jsonl"
FORMAT = 1


@dataclass(frozen=True)
class Timer:
    """A timer execution still waiting: started again on load with what is left of its wait."""

    name: str
    input: dict[str, Any]
    due: float  # epoch seconds


@dataclass
class Loaded:
    items: list[dict[str, Any]]
    timers: list[Timer]


class DataFolder:
    """Where the data lives; `save` and `load` read and write its one file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.path = self.folder / FILE_NAME

    def load(self) -> Loaded:
        """What the last save wrote; nothing when there is no save yet."""
        loaded = Loaded([], [])
        if not self.path.exists():
            return loaded
        with self.path.open(encoding="utf-8") as lines:
            header = json.loads(next(lines, "{}"))
            if header.get("format") != FORMAT:
                raise ValueError(f"{self.path} is not a Flow Manager data file of format {FORMAT}")
            for line in lines:
                entry = json.loads(line)
                if "item" in entry:
                    loaded.items.append(entry["item"])
                elif "timer" in entry:
                    loaded.timers.append(Timer(**entry["timer"]))
        return loaded

    def save(self, items: Iterable[dict[str, Any]], timers: Iterable[Timer]) -> int:
        """Write everything to a temporary file, then rename it over the last save; returns the item count."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.{threading.get_ident()}.tmp")
        count = 0
        try:
            with temporary.open("w", encoding="utf-8") as out:
                header = {"format": FORMAT, "saved_at": datetime.now(UTC).isoformat(timespec="seconds")}
                out.write(json.dumps(header) + "\n")
                for item in items:
                    out.write(json.dumps({"item": item}, separators=(",", ":")) + "\n")
                    count += 1
                for timer in timers:
                    out.write(json.dumps({"timer": timer.__dict__}, separators=(",", ":")) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        return count

    def set_aside(self) -> Path | None:
        """Move the last save out of the way (a fresh start), keeping it as `<file>.previous`."""
        if not self.path.exists():
            return None
        previous = self.path.with_name(FILE_NAME + ".previous")
        os.replace(self.path, previous)
        return previous


# -- the table in moto ----------------------------------------------------------------------------------------


def _each_item(table: Table) -> Iterator[Item]:
    for bucket in table.items.values():
        if isinstance(bucket, Item):
            yield bucket
        else:
            yield from bucket.values()


def snapshot(table: Table, moto_lock: AbstractContextManager[Any]) -> Iterator[dict[str, Any]]:
    """The table's items at one instant, as DynamoDB JSON.

    Only a shallow copy of each item's attributes is taken under moto's lock (a few milliseconds for tens of
    thousands of items), so requests wait that long and no more; the JSON is made afterwards. That is a true
    snapshot because the writes this service makes replace an attribute's value, never change it in place
    (SET and REMOVE of top-level attributes; moto's list_append builds a new list).
    """
    with moto_lock:
        copies = []
        for item in _each_item(table):
            shell = cast(Item, Item.__new__(Item))
            shell.attrs = dict(item.attrs)  # type: ignore[assignment] # read only, by to_json
            copies.append(shell)
    for shell in copies:
        attributes: dict[str, Any] = shell.to_json()["Attributes"]
        yield attributes


def restore(
    table: Table,
    items: list[dict[str, Any]],
    moto_lock: AbstractContextManager[Any],
    dispatches: Callable[[dict[str, Any]], bool],
) -> int:
    """Put `items` into the (empty) table without stream records, then add an INSERT record for each one that
    `dispatches` says the runner acts on; returns how many records were added."""
    with moto_lock:
        shard, table.stream_shard = table.stream_shard, None
        try:
            stored = [table.put_item(attributes) for attributes in items]
        finally:
            table.stream_shard = shard
        redispatched = 0
        for item, attributes in zip(stored, items, strict=True):
            if shard is not None and dispatches(attributes):
                shard.add(None, item)
                redispatched += 1
    return redispatched


# -- the stack's side: load on start, save periodically and on stop -----------------------------------------


class Keeper:
    """Loads the data folder into the running stack, and saves the stack into it.

    `poll()` lets a `Poller` call it: it saves once `interval` seconds have passed since the last save.
    """

    def __init__(
        self,
        folder: DataFolder,
        table: Callable[[], Table],
        moto_lock: AbstractContextManager[Any],
        sfn: Any,
        timer_arn: str,
        dispatches: Callable[[dict[str, Any]], bool],
        interval: float = 60.0,
    ) -> None:
        self.folder = folder
        self._table = table
        self._moto_lock = moto_lock
        self._sfn = sfn
        self._timer_arn = timer_arn
        self._dispatches = dispatches
        self._interval = interval
        self._saving = threading.Lock()  # the periodic save and the one on stop never write at once
        self._last = time.monotonic()

    def load(self) -> tuple[int, int, int]:
        """Items, re-dispatched records and timers loaded from the last save."""
        loaded = self.folder.load()
        redispatched = restore(self._table(), loaded.items, self._moto_lock, self._dispatches)
        for timer in loaded.timers:
            self._start_timer(timer)
        return len(loaded.items), redispatched, len(loaded.timers)

    def save(self) -> int:
        """Save the table and the pending timers now; returns the number of items saved."""
        with self._saving:
            started = time.monotonic()
            timers = list(self._pending_timers())  # over HTTP to moto: never under its lock
            count = self.folder.save(snapshot(self._table(), self._moto_lock), timers)
            self._last = time.monotonic()
            log.debug("saved %d item(s) and %d timer(s) in %.2f s", count, len(timers), self._last - started)
            return count

    def poll(self) -> int:
        if time.monotonic() - self._last >= self._interval:
            try:
                self.save()
            except OSError as error:
                log.warning("could not save to %s: %s", self.folder.path, error)
        return 0

    def _pending_timers(self) -> Iterator[Timer]:
        pages = self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._timer_arn, statusFilter="RUNNING"
        )
        for page in pages:
            for execution in page["executions"]:
                described = self._sfn.describe_execution(executionArn=execution["executionArn"])
                payload = json.loads(described.get("input") or "{}")
                started: datetime = described["startDate"]
                # `seconds` is what the timer's Wait state waits (SecondsPath in statemachine/timer.asl.json).
                due = started.timestamp() + float(payload.get("seconds", 0))
                yield Timer(execution["name"], payload, due)

    def _start_timer(self, timer: Timer) -> None:
        payload = {**timer.input, "seconds": max(0, math.ceil(timer.due - time.time()))}
        self._sfn.start_execution(stateMachineArn=self._timer_arn, name=timer.name, input=json.dumps(payload))
