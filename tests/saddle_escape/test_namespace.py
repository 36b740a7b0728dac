"""One import name: the science folders are installed only as ``saddle_escape.*``."""

from __future__ import annotations

import os
import subprocess
import sys


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    # A clean environment: no PYTHONPATH pointing at the repository, cwd elsewhere.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_only_saddle_escape_is_importable(tmp_path):
    code = (
        "import saddle_escape.symbolic, saddle_escape.numeric, saddle_escape.classes\n"
        "import importlib.util as u\n"
        "print([u.find_spec(m) is None for m in ('symbolic', 'numeric', 'classes')])\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, True, True]"


def test_a_file_named_like_a_science_package_cannot_break_the_toolkit(tmp_path):
    for name in ("numeric", "symbolic", "classes"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the wrong module was imported')\n")
    done = _python("import saddle_escape as se; print(se.classify('tanh').class_.value)", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "B"
