"""
Universality classes of activations
===================================

Every activation σ falls in one of four classes, read off the first non-zero Taylor
coefficient of :math:`\\varphi_\\sigma(z) = z\\sigma'(z) - \\sigma(z)` (conventions §2):
its order ``q`` and coefficient :math:`h_\\sigma`. The classification is exact: it works
on exact Taylor coefficients, not floats.
"""

import matplotlib.pyplot as plt
import numpy as np

import saddle_escape as se

names = ["identity", "relu", "tanh", "sin", "erf", "gelu", "silu", "elu", "sigmoid", "softplus"]
print(f"{'activation':<10} class  q  h_σ")
for name in names:
    c = se.classify(name)
    klass = c.class_.value if c.class_ is not None else "-"
    q = "-" if c.q is None else c.q
    h = "-" if c.leading_coefficient is None else c.leading_coefficient
    print(f"{name:<10} {klass:<6} {q!s:<2} {h}")

# %%
# A class can depend on a parameter: :math:`x + a x^2` is class C unless :math:`a = 0`.

for branch in se.classify("x + a*x**2").conditions:
    print(
        f"{branch.condition}: class {branch.class_.value}, q = {branch.q}, "
        f"h_σ = {branch.leading_coefficient}"
    )

# %%
# :math:`\varphi_\sigma` near the origin for one activation of each of the classes B, C
# and D: the order ``q`` of its first term is what sets the class (class A has
# :math:`\varphi_\sigma \equiv 0`).

z = np.linspace(-1.5, 1.5, 301)
activations = {
    "tanh (B)": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "silu (C)": (
        lambda z: z / (1 + np.exp(-z)),
        lambda z: 1 / (1 + np.exp(-z)) + z * np.exp(-z) / (1 + np.exp(-z)) ** 2,
    ),
    "sigmoid (D)": (
        lambda z: 1 / (1 + np.exp(-z)),
        lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
    ),
}
fig, ax = plt.subplots(figsize=(5, 3.5))
for label, (sigma, dsigma) in activations.items():
    ax.plot(z, z * dsigma(z) - sigma(z), label=label)
ax.axhline(0, color="0.7", lw=0.8)
ax.set_xlabel("z")
ax.set_ylabel(r"$\varphi_\sigma(z) = z\sigma'(z) - \sigma(z)$")
ax.legend()
fig.tight_layout()
