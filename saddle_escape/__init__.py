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

from saddle_escape.classes import (
    REGISTRY,
    Classification,
    NamedActivation,
    UniversalityClass,
    activation_names,
    classify,
    get_activation,
)
from saddle_escape.classes.drift import DriftLaw, drift_law
from saddle_escape.classes.gate import build_model
from saddle_escape.numeric.escape import EscapePoint, EscapeResult, escape_time
from saddle_escape.numeric.extrapolation import Extrapolation, extrapolate
from saddle_escape.numeric.flow import FlowTrajectory, integrate_flow
from saddle_escape.numeric.functions import CompiledActivation, Loss, compile_activation, get_loss
from saddle_escape.numeric.identity import IdentityCheck, check_identity, imbalances
from saddle_escape.numeric.network import Backprop, Dataset, Network, backprop, random_network
from saddle_escape.numeric.reduced import ReducedDynamics
from saddle_escape.symbolic import (
    ConvergenceError,
    ExpressionError,
    ParseLimits,
    TimeLimitError,
    parse_activation,
    parse_expression,
)
from saddle_escape.symbolic.asymptotics import Asymptotics, AsymptoticTerm, asymptotics
from saddle_escape.symbolic.identity import (
    IdentityDerivation,
    IdentityVerification,
    derive_identity,
    statement,
    verify_identity,
)
from saddle_escape.symbolic.reduction import ReducedModel, reduced_model

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
    "ReducedModel",
    "reduced_model",
    "__version__",
]
