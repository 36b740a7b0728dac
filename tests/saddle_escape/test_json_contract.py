"""JSON contract v1 (README "JSON output"), checked on every command's ``--json`` output.

* every object has ``version`` (the package version) and ``command``;
* a quantity that is a float64 number is a JSON number; one known exactly or to more
  digits than float64 is a string ``name`` with a numeric twin ``name_value``;
* counts are integers; one name per concept (``tau`` the escape time everywhere).
"""

from __future__ import annotations

import importlib.metadata
import json
import re

import pytest

from saddle_escape.cli import main

NUMBER_STRING = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?(/\d+)?$")
COUNT_KEYS = {"depth", "r", "q", "digits", "evaluations", "seeds", "samples", "layer", "unit"}
FORBIDDEN_KEYS = {"t_esc", "t_esc_std", "prefactor_numeric", "exponent_numeric"}

COMMANDS = [
    ["classify", "gelu"],
    ["classify", "x + a*x**2"],
    ["classes"],
    ["identity", "--widths", "2,2,1"],
    ["identity", "--check", "--widths", "2,3,1", "--samples", "4"],
    ["identity", "--check", "--widths", "2,3,1", "--dps", "25"],
    ["ode", "--depth", "3", "--width", "4", "--init", "1,eps,eps"],
    ["ode", "--activation", "linear", "--width", "N", "--init", "eps,eps,eps,eps"],
    ["escape", "--eps", "0.1"],
    ["escape", "--eps", "0.1", "--dps", "20", "--system", "scalar"],
    [
        "escape",
        "--activation",
        "relu",
        "--init",
        "1,eps,eps,eps",
        "--eps",
        "0.1",
        "--fraction",
        "0.5",
    ],
    ["asymptotics", "--eps", "0.1,0.05,0.025,0.0125"],
    ["asymptotics", "--activation", "sigmoid", "--eps", "0.1,0.05,0.025,0.0125"],
    [
        "simulate",
        *("--depth", "3", "--width", "4", "--bottleneck", "2", "--eps", "0.3,0.2"),
        *("--seeds", "2", "--workers", "1", "--samples", "16"),
    ],
    ["conventions", "2"],
    ["escape", "--activation", "nonsense(x"],  # an error is an object of the contract too
]


def _violations(value, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in FORBIDDEN_KEYS:
                out.append(f"{where}: a second name for a concept that has one")
            if isinstance(item, str) and NUMBER_STRING.match(item.strip()):
                twin = value.get(f"{key}_value", "missing")
                if not (twin is None or isinstance(twin, (int, float))):
                    out.append(f"{where} = {item!r} has no numeric {key}_value")
            if key in COUNT_KEYS and not (item is None or type(item) is int):
                out.append(f"{where} = {item!r} is a count but not an integer")
            if key == "width" and isinstance(item, str) and NUMBER_STRING.match(item):
                out.append(f"{where} = {item!r}: a whole-number width is a number")
            _violations(item, where, out)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _violations(item, f"{path}[{n}]", out)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:3]))
def test_every_command_follows_the_contract(argv, capsys):
    status = main([*argv, "--json"])
    out, _ = capsys.readouterr()
    data = json.loads(out)  # exactly one JSON object on stdout, whatever the status
    assert status in (0, 2, 3, 4)
    assert data["version"] == importlib.metadata.version("saddle-escape")
    assert data["command"] == argv[0]
    problems: list[str] = []
    _violations(data, "", problems)
    assert not problems, "\n".join(problems)
    for point in data.get("points", []) if argv[0] in ("escape", "asymptotics") else []:
        assert {"eps", "eps_value", "tau", "tau_value", "digits", "status"} <= set(point)
        assert point["tau_value"] is None or isinstance(point["tau_value"], float)


def test_the_checker_catches_what_the_contract_forbids():
    problems: list[str] = []
    bad = {"tau": "1.5", "width": "16", "digits": 12.0, "t_esc": 3.0, "ok": "1/2", "ok_value": 0.5}
    _violations(bad, "", problems)
    # tau's twin, width (twin and type), digits, t_esc; "ok" has its twin
    assert len(problems) == 5, problems
