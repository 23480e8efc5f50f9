"""The local stack's data on disk: the table's items, the pending timers and the payload bucket's objects, saved
and loaded again.

One JSON Lines file, `<data dir>/flow-manager.jsonl`: a header line, then one line per item
(`{"item": <DynamoDB JSON>}`) and per pending timer (`{"timer": {"name", "input", "due"}}`). It is written
to a temporary file beside it and renamed over the old one, so a crash mid-save leaves the previous save.
Payloads (inputs and outputs too large for an item) are files under `<data dir>/payloads/`, one per object,
named by its key (`executions/<execution_id>/<sha256>.json`). Keys are content-addressed, so an object's bytes
never change: a save writes the objects that are new since the last one, before the items that may refer to
them, and deletes the files of objects that are gone only once the items are saved.

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
- Items and objects are taken at one instant (under moto's lock), so every reference a saved item holds
  (`input_ref`, `output_ref`) has its object saved, unless the object was deleted in the moment between that
  instant and its copy (its execution deleted as the stack saved), or a file was removed by hand. A load names
  each such reference in a warning; reading it answers 404 (download) or fails the task that reads it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import shutil
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
from moto.s3.models import FakeKey, S3Backend

log = logging.getLogger("local.data")

FILE_NAME = "flow-manager.jsonl"
FORMAT = 1
PAYLOADS = "payloads"
#: The item attributes that hold a payload reference (`flowcore.adapters.dynamodb.codec`): {"key", "size", "sha256"}.
_REFERENCES = ("input_ref", "output_ref")
_CONTENT_TYPE = "application/json"
#: References to unsaved payloads a load names one by one; the rest are counted.
_NAMED = 20


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


#: The callback signing key's file in the data folder.
CALLBACK_KEY_FILE = "callback.key"


class DataFolder:
    """Where the data lives; `save` and `load` read and write its one file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.path = self.folder / FILE_NAME

    def callback_key(self) -> str:
        """The string this stack signs callback tokens with, made once and kept beside the data (owner-only), so
        that a token handed out before a restart still completes its run after it."""
        path = self.folder / CALLBACK_KEY_FILE
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(48))
        return path.read_text(encoding="utf-8").strip()

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
        """Move the last save out of the way (a fresh start), keeping it as `<file>.previous` (and its payloads as
        `payloads.previous/`)."""
        if not self.path.exists():
            return None
        previous = self.path.with_name(FILE_NAME + ".previous")
        os.replace(self.path, previous)
        payloads = self.folder / PAYLOADS
        if payloads.exists():
            kept = self.folder / f"{PAYLOADS}.previous"
            shutil.rmtree(kept, ignore_errors=True)
            os.replace(payloads, kept)
        return previous


class PayloadShelf:
    """The payload bucket's objects in the data folder: `<data dir>/payloads/<key>`, one file per object."""

    def __init__(self, folder: Path) -> None:
        self.root = folder.resolve() / PAYLOADS
        self._saved: set[str] | None = None  # the keys on disk, read once then kept up to date

    def keys(self) -> set[str]:
        if self._saved is None:
            self._saved = {
                path.relative_to(self.root).as_posix()
                for path in self.root.rglob("*")
                if path.is_file() and not path.name.startswith(".")
            }
        return self._saved

    def load(self) -> Iterator[tuple[str, bytes]]:
        for key in sorted(self.keys()):
            yield key, (self.root / key).read_bytes()

    def store(self, objects: dict[str, FakeKey]) -> tuple[int, set[str]]:
        """Write the objects not on disk yet; how many, and the keys of those gone before they could be read."""
        saved, gone = self.keys(), set()
        written = 0
        for key, fake in objects.items():
            if key in saved:
                continue  # content-addressed: the file holds these bytes already
            try:
                data = fake.value
            except (ValueError, OSError):  # deleted since the instant the save was taken at
                gone.add(key)
                continue
            self._write(key, data)
            saved.add(key)
            written += 1
        return written, gone

    def prune(self, keep: set[str]) -> int:
        """Delete the files of objects that are no longer in the bucket; how many."""
        saved = self.keys()
        removed = saved - keep
        for key in removed:
            path = self.root / key
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the execution's folder, when it was its last object
                path.parent.rmdir()
        saved -= removed
        return len(removed)

    def _write(self, key: str, data: bytes) -> None:
        path = self.root / key
        if self.root not in path.resolve().parents:
            raise ValueError(f"an object key that leaves the payload folder: {key!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


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
        copies = _shells(table)
    return _as_json(copies)


def capture(
    table: Table, bucket: Callable[[], dict[str, FakeKey]], moto_lock: AbstractContextManager[Any]
) -> tuple[Iterator[dict[str, Any]], dict[str, FakeKey]]:
    """The table's items (as `snapshot`) and the bucket's objects by key, at one instant: whatever an item refers
    to was stored before it was written, so it is among the objects."""
    with moto_lock:
        copies = _shells(table)
        objects = bucket()
    return _as_json(copies), objects


def _shells(table: Table) -> list[Item]:
    copies = []
    for item in _each_item(table):
        shell = cast(Item, Item.__new__(Item))
        shell.attrs = dict(item.attrs)  # type: ignore[assignment] # read only, by to_json
        copies.append(shell)
    return copies


def _as_json(copies: list[Item]) -> Iterator[dict[str, Any]]:
    for shell in copies:
        attributes: dict[str, Any] = shell.to_json()["Attributes"]
        yield attributes


def bucket_objects(s3: S3Backend, bucket: str) -> dict[str, FakeKey]:
    """The bucket's objects by key (the latest version of each; the payload bucket is not versioned)."""
    return dict(s3.get_bucket(bucket).keys.items())


def load_objects(
    s3: S3Backend, bucket: str, objects: Iterable[tuple[str, bytes]], moto_lock: AbstractContextManager[Any]
) -> set[str]:
    """Put saved objects into the (new) bucket, as JSON with the bucket's default encryption; their keys."""
    loaded = set()
    for key, data in objects:
        with moto_lock:
            fake = s3.put_object(bucket, key, data, disable_notification=True)
            fake.set_metadata({"Content-Type": _CONTENT_TYPE})
        loaded.add(key)
    return loaded


def dangling(items: Iterable[dict[str, Any]], stored: set[str]) -> list[tuple[str, str]]:
    """(pk, key) of each payload reference among `items` (DynamoDB JSON) whose object is not in `stored`."""
    found = []
    for item in items:
        for name in _REFERENCES:
            key = item.get(name, {}).get("M", {}).get("key", {}).get("S")
            if key is not None and key not in stored:
                found.append((item.get("pk", {}).get("S", "?"), key))
    return found


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


@dataclass(frozen=True)
class PayloadBucket:
    """Where the stack keeps its payloads: moto's S3 and the bucket's name."""

    s3: Callable[[], S3Backend]
    name: str


@dataclass(frozen=True)
class LoadReport:
    """What a load found: items, re-dispatched records, timers, payloads, and the references whose payload was
    not saved (pk of the item, key of the object)."""

    items: int
    redispatched: int
    timers: int
    payloads: int = 0
    dangling: tuple[tuple[str, str], ...] = ()


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
        bucket: PayloadBucket | None = None,
    ) -> None:
        self.folder = folder
        self._table = table
        self._moto_lock = moto_lock
        self._sfn = sfn
        self._timer_arn = timer_arn
        self._dispatches = dispatches
        self._interval = interval
        self._bucket = bucket
        self._shelf = PayloadShelf(folder.folder)
        self._saving = threading.Lock()  # the periodic save and the one on stop never write at once
        self._last = time.monotonic()

    def load(self) -> LoadReport:
        """Load the last save: payloads first (a dispatched run may read one at once), then items and timers."""
        loaded = self.folder.load()
        stored: set[str] = set()
        if self._bucket is not None:
            stored = load_objects(self._bucket.s3(), self._bucket.name, self._shelf.load(), self._moto_lock)
        missing = tuple(dangling(loaded.items, stored))
        for pk, key in missing[:_NAMED]:
            log.warning("%s refers to the payload %s, which was not saved: reading it fails", pk, key)
        redispatched = restore(self._table(), loaded.items, self._moto_lock, self._dispatches)
        for timer in loaded.timers:
            self._start_timer(timer)
        return LoadReport(len(loaded.items), redispatched, len(loaded.timers), len(stored), missing)

    def save(self) -> int:
        """Save the table, its payloads and the pending timers now; returns the number of items saved."""
        with self._saving:
            started = time.monotonic()
            timers = list(self._pending_timers())  # over HTTP to moto: never under its lock
            items, objects = capture(self._table(), self._objects, self._moto_lock)
            written, gone = self._shelf.store(objects)  # before the items that refer to them
            count = self.folder.save(items, timers)
            removed = self._shelf.prune(set(objects) - gone)  # once no saved item refers to them
            self._last = time.monotonic()
            log.debug(
                "saved %d item(s), %d timer(s) and %d new payload(s) (%d removed) in %.2f s",
                count,
                len(timers),
                written,
                removed,
                self._last - started,
            )
            return count

    def _objects(self) -> dict[str, FakeKey]:
        return {} if self._bucket is None else bucket_objects(self._bucket.s3(), self._bucket.name)

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
