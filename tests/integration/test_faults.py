"""The fault suite (tests/faults/scenarios.py) under pytest: one test per fault, each in a fresh account.

`python -m tests.faults` runs the same scenarios and prints them as a table.
"""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.faults.scenarios import SCENARIOS, Fault
from tests.harness import on_fresh_stack

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("fault", SCENARIOS, ids=[fault.name for fault in SCENARIOS])
def test_the_final_state_is_the_fault_free_one(harness: Harness, fault: Fault) -> None:
    detail = on_fresh_stack(lambda: fault.run(harness))
    assert detail
