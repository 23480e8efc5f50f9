"""JMESPath expressions over the context document of DESIGN §4, and the limits that keep them cheap.

The context document an expression reads:

    input        the execution's input
    execution    {id, flow_id, flow_version, started_at}
    tasks.<name> {status, output, error, attempts} of the latest ended run of that task
    previous     the same for the run that led to this task (absent for the start task)
    result       the task's raw output, in `output` templates only
    output       the source task's output, in `when` expressions only

An expression is compiled once (`compile_expression` is cached) and read at compile time for what it refers
to: the names it reads at the root of the document and the tasks it reads as `tasks.<name>`. Those are taken
from jmespath's syntax tree, following what each node is evaluated against, so that `rows[?tasks.x]` (a field
of each row) is not mistaken for a reference to task `x`. An absent value is null, as JMESPath has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any

import jmespath
from jmespath.exceptions import (
    EmptyExpressionError,
    IncompleteExpressionError,
    JMESPathError,
    JMESPathTypeError,
    LexerError,
    ParseError,
)
from jmespath.functions import Functions
from jmespath.lexer import Lexer
from jmespath.parser import ParsedResult

#: Characters in one expression (the text between `${` and `}`, or a `when` rule's `expr`).
MAX_EXPRESSION_LENGTH = 1_000
#: Levels of one expression's syntax tree (`a || b || c` is three): the parser and evaluator recurse.
MAX_EXPRESSION_DEPTH = 50
#: Levels an `input` or `output` template nests (as the API counts a value's depth: `{"a": [1]}` is 2).
MAX_TEMPLATE_DEPTH = 16
#: Bytes of an `input` or `output` template written as compact JSON.
MAX_TEMPLATE_BYTES = 32_000
#: Levels of a condition's `when` (a plain rule is 1; `{"not": {"all": [rule]}}` is 3).
MAX_WHEN_DEPTH = 8
#: Rules in one `all` or `any` list.
MAX_WHEN_RULES = 50

#: What every expression may read at the root of the context document.
CONTEXT_NAMES = frozenset({"input", "execution", "tasks", "previous"})
TASKS = "tasks"
PREVIOUS = "previous"
#: Read only by `output` templates: the task's raw output.
RESULT = "result"
#: Read only by `when` expressions: the source task's output.
OUTPUT = "output"

_SHOWN_LENGTH = 100


def shown(text: str) -> str:
    """An expression as quoted in a message: long ones are cut."""
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 3] + "..."


class ExpressionError(ValueError):
    """An expression failed when evaluated (a type error, a function applied to null): the task fails with this
    message, which says which expression and why."""

    def __init__(self, expression: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"expression '{shown(expression)}' failed: {reason}")
        self.expression = expression
        self.reason = reason


class ExpressionSyntaxError(ExpressionError):
    """An expression that cannot be compiled: it does not parse, calls a function JMESPath does not have (or
    with the wrong number of arguments), or is over a limit. `position` is the offset in the expression's text
    where the problem is, when there is one. It is an `ExpressionError` too: a definition stored before it was
    checked still fails its task cleanly at run time."""

    def __init__(self, expression: str, reason: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(expression, reason, f"expression '{shown(expression)}' does not parse{where}: {reason}")
        self.position = position


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression and what it reads: `roots`, the names read at the root of the context document,
    and `tasks`, the names `n` read as `tasks.n`."""

    text: str
    roots: frozenset[str]
    tasks: frozenset[str]
    parsed: ParsedResult = field(repr=False, compare=False)

    @property
    def uses_previous(self) -> bool:
        return PREVIOUS in self.roots

    @property
    def reads_result(self) -> bool:
        return RESULT in self.roots

    def evaluate(self, document: Mapping[str, Any]) -> Any:
        """The expression's value on `document` (a dict, as JMESPath's functions check types by class); absent
        values are null. Raises `ExpressionError` when it fails."""
        try:
            return self.parsed.search(document)
        except JMESPathTypeError as error:
            value = shown(str(error.current_value))
            reason = (
                f"invalid type for value: {value}, expected one of: {list(error.expected_types)}, "
                f'received: "{error.actual_type}" (in function {error.function_name}())'
            )
            raise ExpressionError(self.text, reason) from error
        except (JMESPathError, TypeError, ValueError, ArithmeticError, RecursionError) as error:
            raise ExpressionError(self.text, str(error) or type(error).__name__) from error


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Compile `text` once; raises `ExpressionSyntaxError` (with the position, where there is one)."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(text, f"it is {len(text)} characters long; at most {MAX_EXPRESSION_LENGTH}")
    try:
        parsed = jmespath.compile(text)
    except IncompleteExpressionError as error:
        raise ExpressionSyntaxError(text, "incomplete expression", len(text)) from error
    except LexerError as error:
        raise ExpressionSyntaxError(text, error.message, error.lexer_position) from error
    except ParseError as error:
        token = str(error.token_value)  # a number token's value is an int
        reason = error.msg if token in error.msg else f"{error.msg} '{token}'"
        raise ExpressionSyntaxError(text, reason, error.lex_position) from error
    except EmptyExpressionError as error:
        raise ExpressionSyntaxError(text, "the expression is empty", 0) from error
    except RecursionError as error:
        raise ExpressionSyntaxError(text, f"it nests more than {MAX_EXPRESSION_DEPTH} levels deep") from error
    reads = _Reads(text)
    reads.visit(parsed.parsed, (), 1)
    return Expression(text, frozenset(reads.roots), frozenset(reads.tasks), parsed)


def referenced_tasks(text: str) -> frozenset[str]:
    """The names `n` that `text` reads as `tasks.n` (also `tasks."quoted-name"`, `tasks.[a, b]`, `tasks | n`)."""
    return compile_expression(text).tasks


def root_names(text: str) -> frozenset[str]:
    """The names `text` reads at the root of the context document (`input`, `tasks`, `previous`, ...)."""
    return compile_expression(text).roots


def uses_previous(text: str) -> bool:
    return compile_expression(text).uses_previous


def reads_result(text: str) -> bool:
    """Whether `text` reads `result`, the raw output, which only `output` templates have."""
    return compile_expression(text).reads_result


def is_truthy(value: Any) -> bool:
    """JMESPath's truth: null, false, "", [] and {} are false; everything else (0 included) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


#: Nodes whose children are all evaluated against the current value, and whose result is a new value.
_SAME_VALUE = frozenset(
    {
        "comparator",
        "or_expression",
        "and_expression",
        "not_expression",
        "multi_select_list",
        "multi_select_dict",
        "key_val_pair",
        "function_expression",
        "flatten",
    }
)
#: Nodes whose children are evaluated each against the previous one's result.
_CHAINS = frozenset({"subexpression", "index_expression", "pipe"})
#: Nodes whose first child is evaluated against the current value, the others against each element of its result.
_PROJECTIONS = frozenset({"projection", "value_projection", "filter_projection"})

#: Where a node is evaluated: the path from the root of the context document, or None for a value that is not
#: a known place in it (an element of a projection, a function's result).
type _Where = tuple[str, ...] | None


class _Reads:
    """Follows a syntax tree, knowing what each node is evaluated against, to find what it reads from the root;
    checks the functions it calls and how deep it nests on the way."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.roots: set[str] = set()
        self.tasks: set[str] = set()

    def visit(self, node: Mapping[str, Any], where: _Where, depth: int) -> _Where:
        if depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionSyntaxError(self.text, f"it nests more than {MAX_EXPRESSION_DEPTH} levels deep")
        kind = node["type"]
        children = [child for child in node.get("children", ()) if isinstance(child, Mapping)]
        if kind == "field":
            return self._field(node["value"], where)
        if kind in ("current", "identity"):
            return where
        if kind == "function_expression":
            self._check_function(node["value"], len(children))
        if kind in _CHAINS:
            for child in children:
                where = self.visit(child, where, depth + 1)
            return where
        if kind in _PROJECTIONS:
            self.visit(children[0], where, depth + 1)
            for child in children[1:]:
                self.visit(child, None, depth + 1)
            return None
        # An expression reference (`&field`) is evaluated against each element given to the function.
        scope = None if kind == "expref" else where
        for child in children:
            self.visit(child, scope, depth + 1)
        return None

    def _field(self, name: str, where: _Where) -> _Where:
        if where is None:
            return None
        path = (*where, name)
        if len(path) == 1:
            self.roots.add(name)
        elif len(path) == 2 and path[0] == TASKS:
            self.tasks.add(name)
        return path

    def _check_function(self, name: str, given: int) -> None:
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            raise ExpressionSyntaxError(self.text, f"unknown function {name}()", self._position_of(name))
        signature = spec["signature"]
        wanted = len(signature)
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if (variadic and given < wanted) or (not variadic and given != wanted):
            least = "at least " if variadic else ""
            plural = "" if wanted == 1 else "s"
            reason = f"{name}() takes {least}{wanted} argument{plural}, {given} given"
            raise ExpressionSyntaxError(self.text, reason, self._position_of(name))

    def _position_of(self, function: str) -> int | None:
        for token, following in pairwise(Lexer().tokenize(self.text)):
            if token["type"] == "unquoted_identifier" and token["value"] == function and following["type"] == "lparen":
                return token["start"]
        return None
