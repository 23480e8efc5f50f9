"""The benchmark's capacity arithmetic: DynamoDB's published size and request-unit rules, checked by hand."""

from __future__ import annotations

from typing import Any

import pytest

from bench.meter import (
    IndexSpec,
    failed_write_units,
    index_write_units,
    item_size,
    number_size,
    query_read_units,
    read_units,
    table_write_units,
    value_size,
    write_units,
)

EXECUTION_ID = "0b4c6f0e-3d1a-4f5e-9b8a-2c7d1e6f4a90"  # 36 characters


def item_of(size: int) -> dict[str, Any]:
    """An item of exactly `size` bytes: the name "pk" (2 bytes) and a string of the rest."""
    return {"pk": {"S": "x" * (size - 2)}}


# -- sizes ------------------------------------------------------------------------------------------------


def test_a_string_attribute_is_its_name_plus_its_utf8_bytes() -> None:
    assert item_size({"pk": {"S": "EXEC#abc"}}) == 2 + 8
    assert item_size({"name": {"S": "é"}}) == 4 + 2  # é is two bytes in UTF-8
    assert item_size({"naïve": {"S": ""}}) == 6


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("1", 2),  # one significant digit: 1 byte for it, 1 more
        ("12", 2),
        ("123", 3),
        ("1000", 2),  # trailing zeroes are trimmed
        ("0.001", 2),  # and leading ones
        ("-12345.6789", 6),  # nine digits: 5 bytes, plus 1
        ("1766620800", 5),  # an epoch second: 17666208 is 8 significant digits
        ("0", 2),
    ],
)
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size
    assert value_size({"N": number}) == size


def test_booleans_and_nulls_are_one_byte() -> None:
    assert item_size({"ok": {"BOOL": True}, "gone": {"NULL": True}}) == (2 + 1) + (4 + 1)


def test_binary_counts_raw_bytes() -> None:
    assert item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3


def test_lists_and_maps_cost_three_bytes_plus_one_per_element() -> None:
    # Given a list of a 2-byte string and a 1-digit number, and a map of one 2-byte string
    listed = {"l": {"L": [{"S": "ab"}, {"N": "1"}]}}
    mapped = {"m": {"M": {"a": {"S": "xy"}}}}

    # Then each is 3 bytes of overhead + its elements + 1 byte per element (a map's keys count too)
    assert item_size(listed) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size(mapped) == 1 + 3 + (1 + 2 + 1)
    assert item_size({"empty": {"L": []}}) == 5 + 3
    assert item_size({"nested": {"M": {"l": {"L": [{"BOOL": False}]}}}}) == 6 + 3 + (1 + (3 + 1 + 1) + 1)


def test_sets_are_the_sum_of_their_elements() -> None:
    assert value_size({"SS": ["ab", "c"]}) == 3
    assert value_size({"NS": ["1", "123"]}) == 2 + 3
    assert value_size({"BS": [b"\x00", b"\x00\x00"]}) == 3


def test_a_pending_task_run_item_has_the_size_worked_out_by_hand() -> None:
    run = {
        "pk": {"S": f"EXEC#{EXECUTION_ID}"},  # 2 + 41
        "sk": {"S": "RUN#000002#task2"},  # 2 + 16
        "status": {"S": "PENDING"},  # 6 + 7
        "attempt": {"N": "1"},  # 7 + 2
        "expires_at": {"N": "1766620800"},  # 10 + 5
    }
    assert item_size(run) == 43 + 18 + 13 + 9 + 15


def test_no_item_has_no_size() -> None:
    assert item_size(None) == 0
    assert item_size({}) == 0


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribute type"):
        value_size({"X": "?"})


# -- write units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "units"), [(0, 1), (100, 1), (1024, 1), (1025, 2), (1536, 2), (3072, 3)])
def test_a_write_costs_one_unit_per_started_kilobyte(size: int, units: int) -> None:
    assert write_units(size) == units


def test_a_one_and_a_half_kilobyte_item_costs_two_units_and_four_in_a_transaction() -> None:
    # Given items of exactly 1 KB and 1.5 KB
    one_kb, one_and_a_half = item_of(1024), item_of(1536)
    assert item_size(one_kb) == 1024
    assert item_size(one_and_a_half) == 1536

    # Then a plain put costs 1 and 2 units, and each doubles inside TransactWriteItems
    assert table_write_units(None, one_kb) == 1
    assert table_write_units(None, one_and_a_half) == 2
    assert table_write_units(None, one_kb, transactional=True) == 2
    assert table_write_units(None, one_and_a_half, transactional=True) == 4


def test_an_update_is_charged_on_the_larger_of_the_item_before_and_after() -> None:
    assert table_write_units(item_of(1536), item_of(200)) == 2  # shrinking a 1.5 KB item
    assert table_write_units(item_of(200), item_of(2100)) == 3  # growing past 2 KB
    assert table_write_units(item_of(2100), None) == 3  # a delete: the item removed


def test_a_failed_condition_still_costs_the_existing_item_at_least_one_unit() -> None:
    assert failed_write_units(None) == 1  # nothing there: the minimum
    assert failed_write_units(item_of(3000)) == 3
    assert failed_write_units(item_of(100), transactional=True) == 2


# -- read units -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "strong", "eventual"),
    [(0, 1.0, 0.5), (100, 1.0, 0.5), (4096, 1.0, 0.5), (4097, 2.0, 1.0), (9000, 3.0, 1.5)],
)
def test_a_get_costs_one_unit_per_started_4_kb_halved_when_eventually_consistent(
    size: int, strong: float, eventual: float
) -> None:
    assert read_units(size, consistent=True) == strong
    assert read_units(size, consistent=False) == eventual


def test_a_query_rounds_the_total_of_the_items_it_read_not_each_item() -> None:
    # Given five items of 1,000 bytes (5,000 bytes together)
    sizes = [1000] * 5

    # Then a query reading them all costs 2 units (not 5), 1 when eventually consistent
    assert query_read_units(sizes, consistent=True) == 2.0
    assert query_read_units(sizes, consistent=False) == 1.0
    # And the rounding is on the sum: exactly 4 KB is one unit, a byte more is two
    assert query_read_units([2048, 2048], consistent=True) == 1.0
    assert query_read_units([2048, 2049], consistent=True) == 2.0
    # And a query that finds nothing still costs the minimum
    assert query_read_units([], consistent=True) == 1.0
    assert query_read_units([], consistent=False) == 0.5


# -- global secondary index writes ------------------------------------------------------------------------

GSI1 = IndexSpec("gsi1", ("gsi1pk", "gsi1sk"), "ALL", table_keys=("pk", "sk"))
GSI1_KEYS_ONLY = IndexSpec("gsi1", ("gsi1pk", "gsi1sk"), "KEYS_ONLY", table_keys=("pk", "sk"))


def gsi_writes(before: Any, after: Any, index: IndexSpec = GSI1) -> int:
    return index_write_units(before, after, index)


def execution(status: str, created: str = "2026-01-01", padding: int = 0) -> dict[str, Any]:
    return {
        "pk": {"S": "EXEC#e"},
        "sk": {"S": "META"},
        "status": {"S": status},
        "gsi1pk": {"S": "FLOW#f"},
        "gsi1sk": {"S": f"{created}#e"},
        "input": {"S": "x" * padding},
    }


def test_an_item_entering_the_index_costs_a_write_of_its_size() -> None:
    assert gsi_writes(None, execution("RUNNING")) == 1
    assert gsi_writes(None, execution("RUNNING", padding=1500)) == 2


def test_a_changed_indexed_item_costs_a_write_and_an_unchanged_one_nothing() -> None:
    assert gsi_writes(execution("RUNNING"), execution("COMPLETED")) == 1
    assert gsi_writes(execution("RUNNING"), execution("RUNNING")) == 0


def test_leaving_the_index_costs_one_write_and_a_moved_key_costs_two() -> None:
    assert gsi_writes(execution("RUNNING"), None) == 1
    assert gsi_writes(execution("RUNNING", "2026-01-01"), execution("RUNNING", "2026-02-02")) == 2


def test_items_without_the_index_keys_cost_the_index_nothing() -> None:
    run = {"pk": {"S": "EXEC#e"}, "sk": {"S": "RUN#000001#a"}, "status": {"S": "PENDING"}}
    assert gsi_writes(None, run) == 0
    assert gsi_writes(run, {**run, "status": {"S": "SUCCESS"}}) == 0


def test_a_keys_only_index_ignores_changes_to_attributes_it_does_not_project() -> None:
    assert gsi_writes(execution("RUNNING"), execution("COMPLETED"), GSI1_KEYS_ONLY) == 0
    assert gsi_writes(None, execution("RUNNING", padding=1500), GSI1_KEYS_ONLY) == 1
