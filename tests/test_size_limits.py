"""Size limits of issue 10: no module in service/ over 400 lines, no function over 80.

A module or function may stay whole when a `# size: <why>` comment says why: for a module
in its first five lines, for a function from its `def` line to the fifth line of its body
(a docstring counts as one line). The failure lists every offender, largest first.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
_SIZE_COMMENT = re.compile(r"#\s*size:\s*\S")


@dataclass(frozen=True)
class Offender:
    where: str
    lines: int
    limit: int

    def __str__(self) -> str:
        return f"{self.where}: {self.lines} lines (limit {self.limit})"


def _size_comment_lines(source: str) -> set[int]:
    """Line numbers holding a real `# size: <why>` comment (not text inside a string)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and _SIZE_COMMENT.match(token.string):
            lines.add(token.start[0])
    return lines


def _function_header_end(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The last line a function's `# size:` comment may sit on."""
    first = node.body[0]
    is_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if is_docstring:
        after_docstring = (first.end_lineno or first.lineno) + 1
        return after_docstring + 3  # the docstring is body line one, so four more lines
    return first.lineno + 4


def offenders(source: str, name: str) -> list[Offender]:
    """Every size-limit breach in one module's source; `name` labels them."""
    found: list[Offender] = []
    module_lines = len(source.splitlines())
    if module_lines > MAX_MODULE_LINES:
        found.append(Offender(name, module_lines, MAX_MODULE_LINES))
    long_functions = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    for node in long_functions:
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        place = f"{name}:{node.lineno} {node.name}()"
        found.append(Offender(place, length, MAX_FUNCTION_LINES))
    if not found or "size:" not in source:
        return found
    # Tokenizing is the slow part: only for modules that have both a breach and a comment.
    comments = _size_comment_lines(source)
    excused = {name} if any(line <= 5 for line in comments) else set()
    for node in long_functions:
        header = range(node.lineno, _function_header_end(node) + 1)
        if any(line in comments for line in header):
            excused.add(f"{name}:{node.lineno} {node.name}()")
    return [o for o in found if o.where not in excused]


def test_service_modules_and_functions_within_size_limits() -> None:
    found: list[Offender] = []
    for path in sorted(SERVICE.rglob("*.py")):
        found += offenders(path.read_text(encoding="utf-8"), str(path.relative_to(SERVICE.parent)))
    found.sort(key=lambda o: o.lines, reverse=True)
    if found:
        pytest.fail(
            f"{len(found)} over the size limits (split them, or say why with `# size: <why>`):"
            + "".join(f"\n  {o}" for o in found),
            pytrace=False,
        )


# -- the checker itself, on sources with known answers --------------------------------------


def _function(lines: int, *, header: str = "", docstring: bool = False) -> str:
    body = ['    """Doc."""'] if docstring else []
    body += [header] if header else []
    body += [f"    x{i} = {i}" for i in range(lines - 1 - len(body))]
    return "\n".join(["def f():", *body]) + "\n"


def test_a_long_function_is_reported_with_its_place_and_length() -> None:
    assert offenders(_function(80), "m.py") == []
    assert [str(o) for o in offenders(_function(81), "m.py")] == ["m.py:1 f(): 81 lines (limit 80)"]


def test_a_size_comment_in_the_function_header_excuses_it() -> None:
    assert offenders(_function(120, header="    # size: one declarative table"), "m.py") == []
    excused = _function(120, header="    # size: a table", docstring=True)
    assert offenders(excused, "m.py") == []
    # a reason is required, and a string that looks like the comment is not one
    assert offenders(_function(120, header="    # size:"), "m.py")
    assert offenders(_function(120, header='    s = "# size: no"'), "m.py")


def test_a_size_comment_deep_inside_the_function_does_not_count() -> None:
    source = _function(120).replace("    x50 = 50\n", "    x50 = 50  # size: too late\n")
    assert offenders(source, "m.py")


def test_a_long_module_needs_the_comment_in_its_first_five_lines() -> None:
    long_module = "\n".join(f"x{i} = {i}" for i in range(401)) + "\n"
    assert [o.lines for o in offenders(long_module, "m.py")] == [401]
    assert offenders("# size: generated table\n" + long_module, "m.py") == []
    late = "\n".join([*long_module.splitlines()[:6], "# size: too late"]) + "\n"
    assert offenders(late + long_module, "m.py")
