"""Schemathesis over HTTP against the local stack: every check, a fixed seed, a bounded run (tests/e2e/fuzz.py).

What it holds the API to: no 5xx, every status and body as the OpenAPI document declares it, requests the
document calls invalid refused and valid ones accepted (save the two exceptions in schemathesis.toml), 405 with
`Allow` for undeclared methods, and a resource gone after its DELETE.
"""

from __future__ import annotations

import re

import pytest

from local.runtime import LocalRuntime
from tests.e2e.fuzz import TEST_EXAMPLES, fuzz

pytestmark = pytest.mark.e2e


def test_schemathesis_finds_nothing(runtime: LocalRuntime) -> None:
    # Given the local stack, When schemathesis runs every phase and check against its OpenAPI document
    done = fuzz(runtime.url, TEST_EXAMPLES)

    # Then it ran cases against every operation and none failed
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20_000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-5_000:]
    assert int(generated.group(1)) == int(generated.group(2)) > 500
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    assert selected is not None, output[-5_000:]
    assert selected.group(1) == selected.group(2) == selected.group(3)
