"""Universality classes of activations and the registry of named activations."""

from classes.registry import REGISTRY, NamedActivation, activation_names, get_activation, lookup
from classes.universality import (
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
