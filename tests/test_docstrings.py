"""Every docstring example of the installed package runs and prints what it shows.

The examples run on ``saddle_escape.*`` as installed (one name per module), not on the
files by path, so no module is imported twice under two names.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


def _modules() -> list[str]:
    # The science packages live in folders of their own (package-dir mapping), so each
    # is walked from its own path.
    packages = ["saddle_escape"] + [
        f"saddle_escape.{p}" for p in ("symbolic", "classes", "numeric")
    ]
    names = set(packages)
    for package in packages:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            names.add(info.name)
    names.discard("saddle_escape.__main__")  # runs the command line on import
    return sorted(names)


MODULES = _modules()
_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def test_every_science_package_is_walked():
    for package in ("symbolic", "classes", "numeric"):
        assert any(name.startswith(f"saddle_escape.{package}.") for name in MODULES), package


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    if name == "saddle_escape.adapters.torch":  # the optional extra's examples need torch
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    failures = []
    for test in finder.find(module, name):
        result = runner.run(test, out=failures.append, clear_globs=True)
        assert result.failed == 0, "".join(failures)
