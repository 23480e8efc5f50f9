"""Schemathesis over HTTP against the local stack: every check, a fixed seed, a bounded run (tests/e2e/fuzz.py).

What it holds the API to: no 5xx, every status and body as the OpenAPI document declares it, requests the
document calls invalid refused and valid ones accepted (save the two exceptions in schemathesis.toml), 405 with
`Allow` for undeclared methods, and a resource gone after its DELETE.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from local.runtime import LocalRuntime
from tests.e2e.fuzz import TEST_EXAMPLES, fuzz, fuzzing_token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalRuntime]:
    """The stack under `--auth jwt`: schemathesis's authentication checks need an API that can refuse."""
    with LocalRuntime(port=0, moto_port=0, auth="jwt") as running:
        yield running


def test_schemathesis_finds_nothing(guarded: LocalRuntime) -> None:
    # Given the local stack with its JWT authorizer, When schemathesis runs every phase and check (authentication
    # included: requests without the token, or with a wrong one) against its OpenAPI document
    done = fuzz(guarded.url, TEST_EXAMPLES, token=fuzzing_token(guarded))

    # Then it ran cases against every operation and none failed
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20_000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None, output[-5_000:]
    assert int(generated.group(1)) == int(generated.group(2)) > 500
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    assert selected is not None, output[-5_000:]
    assert selected.group(1) == selected.group(2) == selected.group(3)
