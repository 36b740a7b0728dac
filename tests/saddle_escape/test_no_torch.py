"""Without torch: the core works, and the torch adapter says how to install it.

Each check runs in a fresh interpreter: one with torch hidden (``sys.modules["torch"] =
None`` makes every ``import torch`` raise ImportError, as if it were not installed), one
with torch available to show that importing the package does not import torch.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HIDE_TORCH = "import sys\nsys.modules['torch'] = None\n"


def _run(code: str, *, hide_torch: bool = False) -> subprocess.CompletedProcess:
    script = (HIDE_TORCH if hide_torch else "") + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_core_and_the_cli_work_without_torch():
    result = _run(
        """
        import contextlib, io, json
        import saddle_escape as se
        from saddle_escape.cli import main

        assert se.classify("gelu").class_.value == "C"
        for argv in (
            ["classify", "tanh", "--json"],
            ["asymptotics", "--activation", "tanh", "--eps", "0.1,0.05", "--json"],
        ):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                status = main(argv)
            assert status == 0, (argv, status)
            payload = json.loads(out.getvalue())
            assert payload["command"] == argv[0]
        print("core ok")
        """,
        hide_torch=True,
    )
    assert result.returncode == 0, result.stderr
    assert "core ok" in result.stdout


def test_the_adapter_names_the_extra_without_torch():
    result = _run(
        """
        import warnings
        import mpmath
        import saddle_escape.adapters.torch as T

        calls = {
            "require_torch": lambda: T.require_torch(),
            "from_torch": lambda: T.from_torch(object()),
            "to_torch": lambda: T.to_torch(None, "tanh"),
            "activation_expression": lambda: T.activation_expression(object()),
            "torch_identity": lambda: T.torch_identity(object(), [[0.0]], [[0.0]]),
            "ImbalanceMonitor": lambda: T.ImbalanceMonitor(object()),
            "predict_plateau": lambda: T.predict_plateau(object(), [[0.0]], [0.0], lr=0.1),
            "load_model": lambda: T.load_model("model.pt"),
        }
        for name, call in calls.items():
            try:
                call()
            except ImportError as exc:
                assert "pip install 'saddle-escape[torch]'" in str(exc), (name, str(exc))
            else:
                raise AssertionError(f"{name} ran without torch")
        # A plain Python callable needs no torch: classified numerically.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = T.classify_module(lambda z: z * mpmath.tanh(z))
        assert (result.class_.value, result.q) == ("C", 2)
        print("adapter ok")
        """,
        hide_torch=True,
    )
    assert result.returncode == 0, result.stderr
    assert "adapter ok" in result.stdout


def test_importing_the_package_and_the_adapter_does_not_import_torch():
    result = _run(
        """
        import sys
        import saddle_escape
        import saddle_escape.adapters.torch
        import saddle_escape.cli
        assert "torch" not in sys.modules, "importing saddle_escape imported torch"
        print("lazy ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "lazy ok" in result.stdout
