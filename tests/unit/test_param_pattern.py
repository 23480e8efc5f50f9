"""`Param.pattern`: a string parameter's regular expression, honoured alike when a flow is saved (pydantic) and
when a templated value is read back by the runner (`Param.read`)."""

from __future__ import annotations

import pytest

from flowcore.api.parameters import parameters_model
from flowcore.tasks.base import Param, ParameterError

NAME = Param("name", str, pattern=r"^[a-z]+(-[a-z]+)*$", max_length=20)


def test_a_matching_string_is_read_as_it_is() -> None:
    # Given a string that matches / When read / Then it is unchanged
    assert NAME.read("order-handler") == "order-handler"


def test_a_string_that_does_not_match_is_refused_by_the_runner_with_the_pattern() -> None:
    # Given a string the pattern refuses / When read / Then the error names the parameter, value and pattern
    with pytest.raises(ParameterError, match=r"parameter 'name' is \"Order_Handler\", which does not match"):
        NAME.read("Order_Handler")


def test_the_saved_flow_is_checked_with_the_same_pattern() -> None:
    # Given the pydantic model built from the declaration
    model = parameters_model((NAME,))
    # When values are validated / Then a match passes and a mismatch is refused
    assert model.model_validate({"name": "a-b"}).model_dump() == {"name": "a-b"}
    with pytest.raises(ValueError, match="should match pattern"):
        model.model_validate({"name": "A B"})


def test_a_parameter_without_a_pattern_takes_any_string() -> None:
    # Given a declaration without pattern / When read / Then any string within bounds is taken
    assert Param("free", str).read("Any text: at all!") == "Any text: at all!"
