"""The conventions document ships with the package, and every citation of it resolves."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from saddle_escape.conventions import SECTION_COUNT, conventions_text, section, section_titles

ROOT = Path(__file__).resolve().parents[2]
#: "conventions §3", "conventions §3, §4 and §7", "conventions §1–§8".
_CITATION = re.compile(r"conventions\s+§(\d+)((?:\s*(?:,|and|or|–|-)\s*§?\d+)*)")


def _source_files() -> list[Path]:
    """Every Python file of the installed packages (the source folders, when editable)."""
    files: list[Path] = []
    for name in (
        "saddle_escape",
        *(f"saddle_escape.{p}" for p in ("symbolic", "classes", "numeric")),
    ):
        (folder,) = importlib.import_module(name).__path__
        files += sorted(Path(folder).glob("*.py"))
    return files


def _cited(text: str) -> set[int]:
    cited = set()
    for match in _CITATION.finditer(text):
        numbers = [int(match.group(1))] + [int(n) for n in re.findall(r"\d+", match.group(2))]
        if "–" in match.group(2) or "-" in match.group(2):  # a range §a–§b
            numbers = list(range(min(numbers), max(numbers) + 1))
        cited.update(numbers)
    return cited


def test_the_document_is_package_data():
    resource = resources.files("saddle_escape").joinpath("conventions.md")
    assert resource.is_file()
    assert resources.files("saddle_escape").joinpath("py.typed").is_file()
    assert conventions_text() == resource.read_text(encoding="utf-8")


def test_pyproject_declares_the_package_data():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = config["tool"]["setuptools"]["package-data"]["saddle_escape"]
    assert {"conventions.md", "py.typed"} <= set(data)


def test_sections_are_numbered_one_to_eight():
    titles = section_titles()
    assert sorted(titles) == list(range(1, SECTION_COUNT + 1))
    for n, title in titles.items():
        text = section(n)
        assert text.splitlines()[0] == f"## {title}"
        assert f"## §{n + 1} " not in text
        assert len(text.splitlines()) > 5, f"§{n} is nearly empty"


def test_section_refuses_what_is_not_a_section():
    with pytest.raises(ValueError, match="have no §0"):
        section(0)
    with pytest.raises(TypeError, match="section number"):
        section("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        section(True)


def test_every_citation_in_the_package_exists():
    files = _source_files()
    assert any(f.name == "conventions.py" for f in files)
    titles = section_titles()
    missing = {
        f"{f.name}: conventions §{n}"
        for f in files
        for n in _cited(f.read_text(encoding="utf-8"))
        if n not in titles
    }
    assert not missing, sorted(missing)


def test_every_cross_reference_inside_the_document_exists():
    text = conventions_text()
    referenced = {int(n) for n in re.findall(r"§(\d+)", text)}
    assert referenced <= set(section_titles()), sorted(referenced - set(section_titles()))


def test_citation_pattern():
    assert _cited("see conventions §3, §4 and §7; conventions §1–§2") == {1, 2, 3, 4, 7}
    assert _cited("DESIGN §3") == set()


@pytest.mark.slow
def test_a_real_install_contains_the_document(tmp_path):
    """A non-editable install (what users get from pip) ships the document and py.typed."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        + ["--target", str(tmp_path / "site"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    package = tmp_path / "site" / "saddle_escape"
    assert (package / "py.typed").is_file()
    installed = (package / "conventions.md").read_text(encoding="utf-8")
    assert installed == conventions_text()
