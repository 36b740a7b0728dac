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

from classes import (
    REGISTRY,
    Classification,
    NamedActivation,
    UniversalityClass,
    activation_names,
    classify,
    get_activation,
)
from classes.drift import DriftLaw, drift_law
from numeric.escape import EscapePoint, EscapeResult, build_model, escape_time
from numeric.extrapolation import Extrapolation, extrapolate
from numeric.flow import FlowTrajectory, integrate_flow
from numeric.functions import CompiledActivation, Loss, compile_activation, get_loss
from numeric.identity import IdentityCheck, check_identity, imbalances
from numeric.network import Backprop, Dataset, Network, backprop, random_network
from numeric.reduced import ReducedDynamics
from symbolic import (
    ConvergenceError,
    ExpressionError,
    ParseLimits,
    TimeLimitError,
    parse_activation,
    parse_expression,
)
from symbolic.asymptotics import Asymptotics, AsymptoticTerm, asymptotics
from symbolic.imbalance import (
    IdentityDerivation,
    IdentityVerification,
    derive_identity,
    statement,
    verify_identity,
)
from symbolic.reduction import ReducedModel, reduced_model

__version__ = "0.1.0"

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
