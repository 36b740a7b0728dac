"""saddle-escape: the theory of saddle escape in deep nonlinear networks, as a toolkit.

Rawal & DeWeese, "A Theory of Saddle Escape in Deep Nonlinear Networks",
arXiv:2605.01288. This package re-exports the public API of ``symbolic``,
``classes`` and ``numeric``; the command line is ``saddle-escape``.

Examples
--------
>>> import saddle_escape as se
>>> se.classify("gelu").class_.value
'C'
"""

from importlib import metadata as _metadata

import sympy as _sp

from saddle_escape.classes import (
    REGISTRY,
    Classification,
    NamedActivation,
    UniversalityClass,
    activation_names,
    get_activation,
)
from saddle_escape.classes import classify as _classify
from saddle_escape.classes.drift import DriftLaw, drift_law
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.calibration import (
    Architecture,
    Calibration,
    HeldOutTable,
    calibrate,
    held_out_table,
    predict_tau,
)
from saddle_escape.numeric.data import DataTask, GammaEstimate, empirical_gamma, load_data
from saddle_escape.numeric.escape import EscapePoint, EscapeResult, escape_time
from saddle_escape.numeric.extrapolation import Extrapolation, extrapolate
from saddle_escape.numeric.flow import FlowTrajectory, integrate_flow
from saddle_escape.numeric.functions import CompiledActivation, Loss, compile_activation, get_loss
from saddle_escape.numeric.identity import IdentityCheck, check_identity, imbalances
from saddle_escape.numeric.network import Backprop, Dataset, Network, backprop, random_network
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.numeric.simulate import FullEscape, full_escape_time, he_network
from saddle_escape.numeric.store import CaseRecord, ResultsStore
from saddle_escape.numeric.sweep import SweepSpec, SweepSummary, load_spec, run_sweep
from saddle_escape.numeric.teachers import (
    GaussianTask,
    ModeEscapes,
    mode_escape_times,
    overlap_trajectory,
    saxe_escape_time,
)
from saddle_escape.symbolic import (
    ConvergenceError,
    ExpressionError,
    ParseLimits,
    TimeLimitError,
    parse_activation,
    parse_expression,
)
from saddle_escape.symbolic.asymptotics import Asymptotics, AsymptoticTerm, asymptotics
from saddle_escape.symbolic.bias import BiasLaw, bias_law
from saddle_escape.symbolic.identity import (
    IdentityDerivation,
    IdentityVerification,
    derive_identity,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.reduction import ReducedModel, reduced_model


def classify(activation, **options):
    """Classify σ: a registry name, an expression, a SymPy expression, or a callable.

    Strings and SymPy expressions go to :func:`saddle_escape.classes.classify` (exact).
    A PyTorch activation module or function (``torch.nn.GELU()``, ``F.silu``) is mapped to
    its exact expression, checked against its own forward, and classified exactly; any
    other Python callable is classified numerically, with its confidence (see
    :func:`saddle_escape.adapters.torch.classify_module`; torch is imported only then).

    Parameters
    ----------
    activation : str, sympy.Expr or callable
    **options
        ``order``, ``time_limit_seconds`` as for :func:`saddle_escape.classes.classify`.

    Returns
    -------
    Classification or saddle_escape.adapters.numerical.NumericalClassification

    Examples
    --------
    >>> classify("tanh").class_.value
    'B'
    >>> import math, warnings
    >>> with warnings.catch_warnings():  # it warns that the verdict is numerical
    ...     warnings.simplefilter("ignore")
    ...     classify(math.sin).class_.value
    'B'
    """
    if callable(activation) and not isinstance(activation, (str, _sp.Basic)):
        from saddle_escape.adapters.torch import classify_module

        return classify_module(activation, **options)
    return _classify(activation, **options)


try:  # the version is defined once, in pyproject.toml
    __version__ = _metadata.version("saddle-escape")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "REGISTRY",
    "Classification",
    "NamedActivation",
    "UniversalityClass",
    "activation_names",
    "classify",
    "get_activation",
    "ConvergenceError",
    "ExpressionError",
    "ParseLimits",
    "TimeLimitError",
    "parse_activation",
    "parse_expression",
    "DriftLaw",
    "drift_law",
    "FlowTrajectory",
    "integrate_flow",
    "CompiledActivation",
    "Loss",
    "compile_activation",
    "get_loss",
    "IdentityCheck",
    "check_identity",
    "imbalances",
    "Backprop",
    "Dataset",
    "Network",
    "backprop",
    "random_network",
    "IdentityDerivation",
    "IdentityVerification",
    "derive_identity",
    "statement",
    "verify_identity",
    "EscapePoint",
    "EscapeResult",
    "build_model",
    "escape_time",
    "Extrapolation",
    "extrapolate",
    "ReducedDynamics",
    "Asymptotics",
    "AsymptoticTerm",
    "asymptotics",
    "BiasLaw",
    "bias_law",
    "ReducedModel",
    "reduced_model",
    "__version__",
    "Architecture",
    "Calibration",
    "HeldOutTable",
    "calibrate",
    "held_out_table",
    "predict_tau",
    "DataTask",
    "GammaEstimate",
    "empirical_gamma",
    "load_data",
    "FullEscape",
    "full_escape_time",
    "he_network",
    "CaseRecord",
    "ResultsStore",
    "SweepSpec",
    "SweepSummary",
    "load_spec",
    "run_sweep",
    "GaussianTask",
    "ModeEscapes",
    "mode_escape_times",
    "overlap_trajectory",
    "saxe_escape_time",
]
