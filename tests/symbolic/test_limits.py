import time

import pytest

from symbolic.errors import TimeLimitError
from symbolic.limits import time_limit


def _spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_limit_interrupts_long_work_promptly():
    start = time.monotonic()
    with pytest.raises(TimeLimitError, match="spinning took longer than the time limit of 0.2 s"):
        with time_limit(0.2, "spinning"):
            _spin(5)
    assert time.monotonic() - start < 1.0


def test_nested_limits_keep_the_outer_deadline():
    with pytest.raises(TimeLimitError, match="outer"):
        with time_limit(0.4, "outer"):
            with time_limit(0.2, "inner"):  # shorter: it takes over, then hands back
                pass
            with time_limit(5, "longer inner"):  # longer: the outer deadline stays
                _spin(5)


def test_no_limit_and_bad_limit():
    with time_limit(None, "nothing"):
        pass
    with pytest.raises(ValueError, match="positive"):
        with time_limit(0, "zero"):
            pass
