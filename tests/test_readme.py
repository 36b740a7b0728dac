"""Every fenced ``python`` block of README.md runs, in order, as a reader would run them.

Blocks share one namespace (a later block may use a name an earlier one defined). A
block written as an interactive session (``>>>`` prompts) runs as a doctest and must
print what it shows; any other block is executed, and every ``test_*`` function it
defines is called, so a property test shown in the README really passes. ``bash`` and
``console`` blocks are not executed (the command line has its own tests).
"""

from __future__ import annotations

import doctest
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # 1-based line of the opening fence

    @property
    def interactive(self) -> bool:
        return self.code.lstrip().startswith(">>>")


def blocks(text: str) -> list[Block]:
    """Fenced code blocks of a Markdown text, in order."""
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(text)
    ]


PYTHON = [b for b in blocks(README.read_text(encoding="utf-8")) if b.language == "python"]


def _run(block: Block, namespace: dict) -> None:
    where = f"README.md, python block at line {block.line}"
    if block.interactive:
        # lineno is 0-based: the code starts on the line after the fence.
        test = doctest.DocTestParser().get_doctest(
            block.code, namespace, where, str(README), block.line
        )
        failures: list[str] = []
        runner = doctest.DocTestRunner(optionflags=_FLAGS)
        result = runner.run(test, out=failures.append, clear_globs=False)
        namespace.update(test.globs)  # DocTest ran on a copy of the namespace
        assert result.failed == 0, "".join(failures)
        return
    before = set(namespace)
    exec(compile(block.code, where, "exec"), namespace)
    for name in sorted(set(namespace) - before):
        if name.startswith("test_") and callable(namespace[name]):
            namespace[name]()


@pytest.fixture(scope="module")
def session() -> dict:
    """The one namespace the README's blocks share, with a record of which blocks ran."""
    return {"__name__": "readme", "_ran": set()}


def test_the_readme_has_python_blocks():
    assert PYTHON, "README.md has no ```python blocks: nothing is checked"
    assert all(b.code.strip() for b in PYTHON)


def test_only_python_blocks_are_collected():
    sample = "```bash\nrm -rf /\n```\n\n```python\nx = 1\n```\n\n```console\n$ ls\n```\n"
    found = [b for b in blocks(sample) if b.language == "python"]
    assert [b.code for b in found] == ["x = 1\n"] and found[0].line == 5


@pytest.mark.parametrize("index", range(len(PYTHON)), ids=[f"line{b.line}" for b in PYTHON])
def test_python_block_runs(index, session):
    ran = session["_ran"]
    for earlier in range(index):  # a block selected on its own still sees what came before
        if earlier not in ran:
            _run(PYTHON[earlier], session)
            ran.add(earlier)
    _run(PYTHON[index], session)
    ran.add(index)
