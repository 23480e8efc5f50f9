"""Callback tokens and the deadlines of awaited runs."""

from __future__ import annotations

import pytest

from flowcore.domain.callbacks import MAX_AWAIT_SECONDS, Awaited
from flowcore.domain.records import RunRef
from flowcore.domain.tokens import MAX_TOKEN_LENGTH, issue_token, read_token

KEY = b"k" * 32
REF = RunRef("e-1", 3, "approve")


def test_a_token_names_the_run_attempt_and_nonce_it_was_issued_for() -> None:
    token = issue_token(KEY, REF, 2, "n0nce")
    claims = read_token(KEY, token)
    assert claims is not None
    assert (claims.ref, claims.attempt, claims.nonce) == (REF, 2, "n0nce")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), id="signature-changed"),
        pytest.param(lambda token: token[:5] + ("A" if token[5] != "A" else "B") + token[6:], id="payload-changed"),
        pytest.param(lambda token: token.replace(".", ""), id="no-separator"),
        pytest.param(lambda token: token + ".x", id="two-separators"),
        pytest.param(lambda token: "x" * (MAX_TOKEN_LENGTH + 1), id="too-long"),
        pytest.param(lambda token: "", id="empty"),
        pytest.param(lambda token: "!!!." + token.split(".")[1], id="not-base64"),
    ],
)
def test_anything_but_an_issued_token_reads_as_nothing(tamper: object) -> None:
    token = issue_token(KEY, REF, 1, "n0nce")
    assert read_token(KEY, tamper(token)) is None  # type: ignore[operator]


def test_another_key_reads_nothing_and_a_new_nonce_makes_another_token() -> None:
    token = issue_token(KEY, REF, 1, "n0nce")
    assert read_token(b"j" * 32, token) is None
    assert issue_token(KEY, REF, 1, "other") != token


def test_the_deadline_is_the_nearest_of_timeout_heartbeat_and_the_timers_reach() -> None:
    assert Awaited("n", timeout_at=1_000, heartbeat_seconds=60).deadline(900) == 960
    assert Awaited("n", timeout_at=1_000, heartbeat_seconds=600).deadline(900) == 1_000
    assert Awaited("n").deadline(900) == 900 + MAX_AWAIT_SECONDS


def test_a_missed_deadline_says_which_one() -> None:
    both = Awaited("n", timeout_at=1_000, heartbeat_seconds=60)
    assert both.missed(960).error == "timed out: no heartbeat within 60 seconds"
    assert both.missed(1_000).error == "timed out: no completion arrived within the task's timeout_seconds"
    assert not both.missed(1_000).succeeded
