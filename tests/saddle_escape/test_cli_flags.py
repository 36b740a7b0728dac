"""One spelling and one meaning per flag across the commands (issue 9, item 4)."""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest

from saddle_escape.cli import build_parser

#: Spellings a concept must not have next to the one it has. (``--threshold`` names the
#: escape measure, loss or overlap, as issue 11's contract asks; the level is ``--fraction``.)
SYNONYMS = {
    "--n-seeds",
    "--nseeds",
    "--num-seeds",
    "--seed-count",
    "--output",
    "-o",
    "--t-esc",
    "--eps-values",
    "--act",
    "--sigma",
    "--layers",
    "--timeout",
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _signature(action: argparse.Action) -> tuple:
    kind = type(action).__name__
    type_name = getattr(action.type, "__name__", repr(action.type))
    return kind, action.dest, type_name, tuple(action.choices or ())


def test_a_flag_means_the_same_in_every_command():
    seen: dict[str, dict[str, tuple]] = defaultdict(dict)
    for name, command in _commands().items():
        for action in command._actions:
            for flag in action.option_strings:
                seen[flag][name] = _signature(action)
    # --eps lists values everywhere; classify's own --time-limit bounds its symbolic work
    # (same type, its own dest) and is documented as such.
    allowed = {("--time-limit", "classify")}
    clashes = []
    for flag, by_command in seen.items():
        signatures = {sig for cmd, sig in by_command.items() if (flag, cmd) not in allowed}
        if len(signatures) > 1:
            clashes.append(f"{flag}: {by_command}")
    assert not clashes, "\n".join(clashes)
    assert not SYNONYMS & set(seen), SYNONYMS & set(seen)


@pytest.mark.parametrize(
    "flag, commands",
    [
        ("--json", "classify classes identity ode escape asymptotics simulate report figure"),
        ("--time-limit", "classify classes identity ode escape asymptotics simulate report figure"),
        ("--activation", "identity ode escape asymptotics simulate"),
        ("--depth", "ode escape asymptotics simulate"),
        ("--width", "ode escape asymptotics simulate"),
        ("--init", "ode escape asymptotics simulate"),
        ("--teacher", "ode escape asymptotics"),
        ("--eps", "escape asymptotics simulate"),
        ("--fraction", "escape asymptotics"),
        ("--system", "escape asymptotics"),
        ("--out", "report figure"),
        ("--quiet", "report simulate figure asymptotics"),
    ],
)
def test_a_concept_has_its_flag_wherever_it_makes_sense(flag, commands):
    available = _commands()
    missing = [c for c in commands.split() if flag not in available[c]._option_string_actions]
    assert not missing, f"{flag} missing from {missing}"


def test_seed_is_a_value_and_seeds_a_count():
    commands = _commands()
    seed = commands["identity"]._option_string_actions["--seed"]
    seeds = commands["simulate"]._option_string_actions["--seeds"]
    assert seed.dest == "seed" and seeds.dest == "seeds"
    assert "seed" in seed.help and "number of seeds" in seeds.help
