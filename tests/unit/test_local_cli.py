"""`python -m local`'s options for the data folder: flags, environment variables, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.__main__ import DEFAULT_DATA_DIR, parse_args
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLOW_MANAGER_DATA", "FLOW_MANAGER_FRESH", "PORT", "MOTO_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_the_data_folder_defaults_to_local_data_in_the_checkout() -> None:
    args = parse_args([])

    assert DEFAULT_DATA_DIR == ROOT / ".local-data"
    assert args.data_dir == DEFAULT_DATA_DIR
    assert args.fresh is False
    assert args.save_every == 60.0


def test_the_environment_names_the_folder_and_asks_for_a_fresh_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_MANAGER_DATA", "/tmp/elsewhere")
    monkeypatch.setenv("FLOW_MANAGER_FRESH", "1")

    args = parse_args([])

    assert args.data_dir == Path("/tmp/elsewhere")
    assert args.fresh is True


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_MANAGER_DATA", "/tmp/elsewhere")

    args = parse_args(["--data-dir", "/tmp/here", "--fresh", "--save-every", "5"])

    assert (args.data_dir, args.fresh, args.save_every) == (Path("/tmp/here"), True, 5.0)


@pytest.mark.parametrize("value", ["", "0", "no"])
def test_other_values_of_the_fresh_variable_keep_the_data(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FLOW_MANAGER_FRESH", value)

    assert parse_args([]).fresh is False


def test_the_ports_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("MOTO_PORT", "5050")

    args = parse_args([])

    assert (args.port, args.moto_port) == (8080, 5050)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_the_save_interval_is_a_positive_number(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--save-every", value])
