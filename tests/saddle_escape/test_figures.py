"""The report's figures: the numbers they plot (issue 10 item 6)."""

import matplotlib.axes
import pytest

from saddle_escape import figures
from saddle_escape.figures import OFF_MANIFOLD_GRIDS, OFF_MANIFOLD_SEEDS, off_manifold


@pytest.fixture
def error_bars(monkeypatch):
    """Record the ``yerr`` of every ``Axes.errorbar`` call."""
    seen = []
    original = matplotlib.axes.Axes.errorbar

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("yerr"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    return seen


def test_off_manifold_grids_are_the_shipped_ones():
    assert set(OFF_MANIFOLD_GRIDS) == {3, 5, 8} and OFF_MANIFOLD_SEEDS >= 2
    assert figures.FIGURES["off-manifold"] is off_manifold


def test_off_manifold_r3_slope_is_the_law(tmp_path, error_bars):
    """The default grid of r = 3 (its slowest-converging depth) alone: about 2 s."""
    data = off_manifold([tmp_path / "r3.png"], grids={3: OFF_MANIFOLD_GRIDS[3]})
    assert list(data) == [3]
    d = data[3]
    assert d["expected_slope"] == -1 and d["eps"] == list(OFF_MANIFOLD_GRIDS[3])
    assert abs(d["slope"] - d["expected_slope"]) < 0.1
    assert d["slope_std"] is not None and d["slope_std"] < 0.05
    assert len(error_bars) == 1 and error_bars[0] is not None  # 3 seeds: error bars
    assert (tmp_path / "r3.png").stat().st_size > 1000


def test_off_manifold_one_seed_draws_no_error_bar(tmp_path, error_bars):
    data = off_manifold([tmp_path / "one.png"], grids={3: (0.05, 0.02)}, seeds=1)
    assert data[3]["slope_std"] is None and data[3]["slope"] < 0
    assert error_bars == [None]


@pytest.mark.slow
def test_off_manifold_every_slope_is_the_law(tmp_path, error_bars):
    """The whole figure as the report draws it: each mean slope within 0.1 of −(r − 2)."""
    data = off_manifold([tmp_path / "off-manifold.svg"])
    assert sorted(data) == [3, 5, 8]
    for r, d in data.items():
        assert d["expected_slope"] == -(r - 2)
        assert abs(d["slope"] - d["expected_slope"]) < 0.1, (r, d)
        assert d["slope_std"] is not None and d["slope_std"] < 0.1, (r, d)
    assert len(error_bars) == 3 and None not in error_bars
