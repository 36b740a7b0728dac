"""Universality classes of activations and the registry of named activations."""

from saddle_escape.classes.registry import (
    REGISTRY,
    NamedActivation,
    activation_names,
    get_activation,
    lookup,
)
from saddle_escape.classes.universality import (
    Branch,
    Classification,
    PhiTerm,
    SideClassification,
    UniversalityClass,
    classify,
)

__all__ = [
    "REGISTRY",
    "NamedActivation",
    "activation_names",
    "get_activation",
    "lookup",
    "Branch",
    "Classification",
    "PhiTerm",
    "SideClassification",
    "UniversalityClass",
    "classify",
]
