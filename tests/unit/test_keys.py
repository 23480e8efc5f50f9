"""Key formats live in one module (`flowcore.adapters.dynamodb.keys`): built and parsed there, and written
nowhere else in the service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowcore.adapters.dynamodb import keys
from flowcore.domain.records import RunRef

ROOT = Path(__file__).resolve().parents[2]
KEYS_MODULE = ROOT / "layers" / "flowcore" / "flowcore" / "adapters" / "dynamodb" / "keys.py"
SERVICE = ("layers", "functions", "local")
#: A prefix of a key, as a literal: `EXEC#`, `RUN#`, `FLOW#`, `V#` (not part of a longer word).
KEY_LITERAL = re.compile(r"(?<![A-Za-z0-9_])(EXEC|RUN|FLOW|V)#")


def key_literals(source: str) -> list[int]:
    """The line numbers of `source` that write a key prefix."""
    return [number for number, line in enumerate(source.splitlines(), start=1) if KEY_LITERAL.search(line)]


def service_sources() -> list[Path]:
    return sorted(path for folder in SERVICE for path in (ROOT / folder).rglob("*.py") if path != KEYS_MODULE)


def test_no_key_prefix_is_written_outside_the_keys_module() -> None:
    # Given every Python file of the service but the keys module
    sources = service_sources()
    assert len(sources) > 40
    # When each is searched for a key prefix / Then none has one
    found = {str(path.relative_to(ROOT)): key_literals(path.read_text(encoding="utf-8")) for path in sources}
    assert {path: lines for path, lines in found.items() if lines} == {}


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('pk = f"EXEC#{execution_id}"', True),
        ('if sk.startswith("RUN#"):', True),
        ("key = 'FLOW#' + flow_id", True),
        ('sk = "V#000001"', True),
        ("SERVICE_V# = 1", False),
        ('note = "a PREV#iew"', False),
    ],
)
def test_the_search_finds_a_prefix_and_nothing_else(line: str, found: bool) -> None:
    assert bool(key_literals(line)) is found


def test_the_keys_module_writes_every_prefix() -> None:
    prefixes = {match.group(1) for match in KEY_LITERAL.finditer(KEYS_MODULE.read_text(encoding="utf-8"))}
    assert prefixes == {"EXEC", "RUN", "FLOW", "V"}


def test_run_keys_round_trip_and_sort_in_path_order() -> None:
    # Given runs at steps 2 and 10 of one execution
    early, late = RunRef("dev/e-1", 2, "task.two:b-1"), RunRef("dev/e-1", 10, "task1")
    # When their keys are built / Then they parse back, and sort by step
    early_key = keys.run_sk_of(early)
    assert early_key == "RUN#000002#task.two:b-1"
    assert keys.run_ref_of(keys.execution_pk("dev/e-1"), early_key) == early
    assert sorted([keys.run_sk_of(late), early_key]) == [early_key, keys.run_sk_of(late)]


@pytest.mark.parametrize("sort_key", ["META", "HEAD", "V#000001", "RUN#12#a", "RUN#000001", "run#000001#a"])
def test_other_sort_keys_are_not_runs(sort_key: str) -> None:
    with pytest.raises(ValueError, match="not a task run key"):
        keys.parse_run_sk(sort_key)


def test_every_item_kind_has_a_name() -> None:
    names = [
        keys.item_kind(sort_key)
        for sort_key in (keys.META, keys.HEAD, keys.version_sk(3), keys.run_sk(1, "a"), "other")
    ]
    assert names == ["execution", "flow head", "flow version", "task run", "item"]
    assert keys.execution_id_of(keys.execution_pk("dev/abc")) == "dev/abc"


def test_every_key_starts_with_its_tenant_and_only_its_own() -> None:
    """A tenant is part of every key: ids that are not scoped make no key, and the same id in two tenants
    makes two keys (with `/` and `#` in a tenant kept out of the key's structure)."""
    from flowcore.domain.tenancy import scoped

    alice, mallory = scoped("alice", "f1"), scoped("arn:aws:iam::1:role/a#b", "f1")
    assert keys.flow_pk(alice) == "T#alice#FLOW#f1"
    assert keys.flow_pk(mallory) == "T#arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%23b#FLOW#f1"
    assert keys.execution_pk(alice) != keys.execution_pk(scoped("alice2", "f1"))
    assert keys.flows_index_pk("alice") == "T#alice#FLOWS"
    assert keys.quota_pk("alice") == "T#alice#QUOTA"
    assert keys.execution_id_of(keys.execution_pk(mallory)) == mallory
    for unscoped in ("f1", "/f1", "alice/"):
        with pytest.raises(ValueError, match="not a scoped id"):
            keys.flow_pk(unscoped)
    with pytest.raises(ValueError, match="not an execution key"):
        keys.execution_id_of("EXEC#abc")
    assert keys.flow_pk("dev/f") != keys.execution_pk("dev/f")
