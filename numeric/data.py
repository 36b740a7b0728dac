r"""Finite data sets as tasks, and the empirical clock :math:`\hat\Gamma` (conventions §5).

A finite data set is a population: its n rows are each weighted 1/n, and every loss,
gradient and expectation is the mean over the rows. Near the origin the network is linear
to leading order, so the one property of the data that sets the clock of the first escape
is the input–output correlation

.. math::  \hat c = \frac1n\sum_{i=1}^n y_i x_i, \qquad \hat\Gamma = \lVert\hat c\rVert,
           \qquad \hat{\mathbf c} = \hat c/\hat\Gamma ,

and, for vector targets :math:`y_i\in\mathbb R^m`, the matrix
:math:`\hat C = n^{-1}\sum_i y_i x_i^\top` with its singular values (the largest is
:math:`\hat\Gamma`). :func:`empirical_gamma` computes it with a bootstrap standard error;
:class:`DataTask` holds a data set with the record of its preprocessing;
:func:`load_data` reads files (``.npz``, ``.npy`` pairs, ``.csv``), the real data sets that
scikit-learn ships inside its package, and seeded isotropic Gaussian samples.

Preprocessing (explicit, recorded in :attr:`DataTask.preprocessing`), in this order:

1. ``subsample``: keep that many rows, drawn without replacement with ``seed`` (the
   subsample is then the population);
2. ``center``: subtract each input column's mean (the mean of y then carries no
   first-order drive: :math:`\mathbb E[(y-\bar y)x] = \mathbb E[yx]` when
   :math:`\mathbb E x = 0`);
3. ``scale``: ``"global"`` divides every input entry by the root mean square of all
   entries, so that :math:`n^{-1}\sum_i\lVert x_i\rVert^2/d = 1` (the convention of
   conventions §1, where :math:`\mathbb E\lVert x\rVert^2 = d`, which makes the network's
   clock comparable between data sets); ``"feature"`` divides each column by its own root
   mean square (the standard deviation after centring; all-zero columns are left as they
   are and listed); ``None`` leaves the inputs alone;
4. ``labels``: the targets (see :data:`LABEL_GRAMMAR`); covariate targets are computed
   from the preprocessed inputs.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from saddle_escape.numeric.network import Dataset

__all__ = [
    "GammaEstimate",
    "empirical_gamma",
    "NO_DRIVE_MESSAGE",
    "DataTask",
    "task_from_arrays",
    "load_data",
    "BUNDLED",
    "LABEL_GRAMMAR",
    "SCALES",
    "MissingExtraError",
]

#: The message of a data set whose targets have no first-order drive (Γ̂ = 0).
NO_DRIVE_MESSAGE = "no first-order drive: escape happens at higher order on another clock"
#: Γ̂ at or below this fraction of its Cauchy–Schwarz bound √(E‖y‖²·E‖x‖²) counts as 0.
ZERO_DRIVE_TOLERANCE = 1e-12
#: Most distinct labels a class-label encoding accepts (more: a regression target).
MAX_CLASSES = 100
#: Largest number of entries one bootstrap chunk holds (replicates × rows, or × m·d).
_CHUNK_ENTRIES = 20_000_000


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is missing (a ValueError too, so the CLI reports it as bad
    input with the install command, exit status 2)."""


def _real_array(values, name: str) -> np.ndarray:
    """``values`` as a float64 array; ValueError naming ``name`` for non-real or non-finite
    entries (with the position of the first bad one)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise ValueError(f"{name} must be a rectangular array of numbers ({exc})") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype}; convert it "
            "with np.asarray(..., dtype=float)"
        )
    array = array.astype(float)
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite: entry {where} is {array[where]!r} (NaN or ±inf); drop or "
            "impute those rows first"
        )
    return array


def _matrices(inputs, targets) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(n, d)`` and targets ``(n, m)`` (a vector is one column), validated."""
    x = _real_array(inputs, "inputs")
    y = _real_array(targets, "targets")
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"inputs must have shape (n, d) with n, d ≥ 1, got {x.shape}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError(f"targets must have shape (n,) or (n, m) with m ≥ 1, got {y.shape}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"inputs have {x.shape[0]} rows but targets have {y.shape[0]}: give one target "
            "row per input row"
        )
    return x, y


@dataclass(frozen=True)
class GammaEstimate:
    r"""The empirical drive :math:`\hat C = n^{-1}\sum_i y_i x_i^\top` of a data set.

    Attributes
    ----------
    gamma : float
        :math:`\hat\Gamma = \lVert\hat c\rVert` (scalar targets), the largest singular
        value of :math:`\hat C` (vector targets).
    stderr : float or None
        Bootstrap standard error of ``gamma`` (rows resampled with replacement);
        ``None`` when ``bootstrap = 0``.
    direction : tuple of float
        Unit vector :math:`\hat{\mathbf c}` in input space (the top right singular vector
        for vector targets).
    n, d, m : int
        Rows, input dimension, target dimension.
    singular_values : tuple of float
        All singular values of :math:`\hat C`, largest first (``(gamma,)`` when m = 1).
    output_direction : tuple of float
        The top left singular vector (``(1.0,)`` when m = 1); signs are fixed so that its
        entry of largest magnitude is positive.
    bootstrap, seed : int
        Replicates and seed of the bootstrap.
    """

    gamma: float
    stderr: float | None
    direction: tuple[float, ...]
    n: int
    d: int
    m: int
    singular_values: tuple[float, ...]
    output_direction: tuple[float, ...]
    bootstrap: int
    seed: int

    def to_dict(self) -> dict:
        """JSON-ready: ``gamma``, ``gamma_stderr``, ``n``, ``d``, ``m``, ``direction``, …"""
        return {
            "gamma": self.gamma,
            "gamma_stderr": self.stderr,
            "n": self.n,
            "d": self.d,
            "m": self.m,
            "direction": list(self.direction),
            "singular_values": list(self.singular_values),
            "output_direction": list(self.output_direction),
            "bootstrap": self.bootstrap,
            "seed": self.seed,
        }


def _top_singular(C: np.ndarray) -> np.ndarray:
    """Largest singular value of each matrix of a stack ``(B, m, d)``."""
    return np.linalg.svd(C, compute_uv=False)[:, 0]


def _bootstrap_gammas(x: np.ndarray, y: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    n, d = x.shape
    m = y.shape[1]
    products = (y[:, :, None] * x[:, None, :]).reshape(n, m * d)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(replicates, _CHUNK_ENTRIES // max(n, m * d)))
    gammas = []
    done = 0
    while done < replicates:  # budget: ceil(replicates / chunk) chunks
        size = min(chunk, replicates - done)
        rows = rng.integers(0, n, size=(size, n))
        offsets = (rows + np.arange(size)[:, None] * n).ravel()
        counts = np.bincount(offsets, minlength=size * n).reshape(size, n).astype(float)
        C = (counts @ products / n).reshape(size, m, d)
        gammas.append(np.linalg.norm(C[:, 0, :], axis=1) if m == 1 else _top_singular(C))
        done += size
    return np.concatenate(gammas)


def empirical_gamma(inputs, targets, *, bootstrap: int = 200, seed: int = 0) -> GammaEstimate:
    r"""The empirical clock :math:`\hat\Gamma = \lVert n^{-1}\sum_i y_i x_i\rVert` of a data set.

    The inputs are used as given (no centring or scaling here: :func:`load_data` does that
    and records it). For vector targets :math:`\hat C = n^{-1}\sum_i y_i x_i^\top`; each
    singular value has its own escape, and ``gamma`` is the largest (the first escape).

    Parameters
    ----------
    inputs : array ``(n, d)``
        Real, finite numbers; n ≥ 2.
    targets : array ``(n,)`` or ``(n, m)``
        Real, finite; no column may be constant.
    bootstrap : int
        Bootstrap replicates for the standard error (0: none; else at least 2).
    seed : int
        Seed of the bootstrap's resampling.

    Returns
    -------
    GammaEstimate

    Raises
    ------
    ValueError
        For NaN or ±inf, wrong shapes, n < 2, a constant target column, or
        :math:`\hat\Gamma = 0` (within :data:`ZERO_DRIVE_TOLERANCE` of its Cauchy–Schwarz
        bound): then there is no first-order drive, and the escape happens at higher order
        on another clock.

    References
    ----------
    conventions §5; issue 11.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> est = empirical_gamma(x, 3 * x[:, 0], bootstrap=0)
    >>> est.gamma, est.direction  # c = E[y x] = (3·½, 0)
    (1.5, (1.0, 0.0))
    >>> empirical_gamma(x, x[:, 0] ** 2 - 0.5)
    Traceback (most recent call last):
    ...
    ValueError: targets have no first-order drive: escape happens at higher order on ...
    """
    x, y = _matrices(inputs, targets)
    n, d = x.shape
    m = y.shape[1]
    if n < 2:
        raise ValueError(f"a data set needs at least 2 rows to estimate Γ̂, got {n}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)):
        raise ValueError(f"bootstrap must be a whole number, got {bootstrap!r}")
    if bootstrap == 1 or bootstrap < 0:
        raise ValueError(f"bootstrap must be 0 (no error bar) or at least 2, got {bootstrap}")
    spans = np.ptp(y, axis=0)
    if (spans == 0).any():
        k = int(np.argmax(spans == 0))
        raise ValueError(
            f"targets column {k} is constant ({float(y[0, k])!r} on every row): it carries no "
            "signal to learn; check the label encoding (e.g. a one-vs-rest class that never occurs)"
        )
    C = y.T @ x / n
    if m == 1:
        gamma = float(np.linalg.norm(C[0]))
        singular = np.array([gamma])
        direction = C[0] / gamma if gamma > 0 else C[0]
        output = np.ones(1)
    else:
        U, singular, Vt = np.linalg.svd(C, full_matrices=False)
        gamma = float(singular[0])
        output, direction = U[:, 0], Vt[0]
        if output[np.argmax(np.abs(output))] < 0:
            output, direction = -output, -direction
    bound = math.sqrt(float((y**2).sum(axis=1).mean()) * float((x**2).sum(axis=1).mean()))
    if not gamma > ZERO_DRIVE_TOLERANCE * bound:
        raise ValueError(
            f"targets have {NO_DRIVE_MESSAGE} (Γ̂ = {gamma:.3g}, against the Cauchy–Schwarz "
            f"bound √(E‖y‖²·E‖x‖²) = {bound:.3g}): E[y x] = 0, e.g. an even target of "
            "symmetric inputs"
        )
    stderr = None
    if bootstrap:
        if n * max(n, m * d) > 50 * _CHUNK_ENTRIES:
            raise ValueError(
                f"the bootstrap of {n} rows × {m * d} products is too large to resample; pass "
                "bootstrap=0, or subsample the rows"
            )
        stderr = float(np.std(_bootstrap_gammas(x, y, int(bootstrap), seed), ddof=1))
    return GammaEstimate(
        gamma=gamma,
        stderr=stderr,
        direction=tuple(float(v) for v in direction),
        n=n,
        d=d,
        m=m,
        singular_values=tuple(float(s) for s in singular),
        output_direction=tuple(float(v) for v in output),
        bootstrap=int(bootstrap),
        seed=int(seed),
    )


@dataclass(frozen=True)
class DataTask:
    """A finite data set, every row weighted 1/n (the data set is the population).

    Parameters
    ----------
    inputs : array ``(n, d)``
        Real and finite, n ≥ 2.
    targets : array ``(n,)`` or ``(n, m)``
        Real and finite; stored as ``(n, m)``.
    name : str
        A label for tables and figures.
    preprocessing : mapping
        What was done to the raw data (source, subsampling, centring, scaling, labels),
        JSON-ready; :func:`load_data` fills it.

    Examples
    --------
    >>> task = DataTask(np.eye(3), [1.0, -1.0, 0.0], name="toy")
    >>> task.n, task.d, task.m, task.dataset().targets.shape
    (3, 3, 1, (3, 1))
    >>> task.to_dict()["name"]
    'toy'
    """

    inputs: np.ndarray
    targets: np.ndarray
    name: str = "data"
    preprocessing: Mapping = field(default_factory=dict)

    def __post_init__(self):
        x, y = _matrices(self.inputs, self.targets)
        if x.shape[0] < 2:
            raise ValueError(f"a data task needs at least 2 rows, got {x.shape[0]}")
        for array in (x, y):
            array.setflags(write=False)
        object.__setattr__(self, "inputs", x)
        object.__setattr__(self, "targets", y)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "preprocessing", dict(self.preprocessing))

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def d(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def m(self) -> int:
        return int(self.targets.shape[1])

    def dataset(self) -> Dataset:
        """The :class:`~saddle_escape.numeric.network.Dataset` (weights 1/n each) that the
        simulator and the identity checks take."""
        return Dataset(self.inputs.copy(), self.targets.copy())

    def gamma(self, *, bootstrap: int = 200, seed: int = 0) -> GammaEstimate:
        """:func:`empirical_gamma` of this data set."""
        return empirical_gamma(self.inputs, self.targets, bootstrap=bootstrap, seed=seed)

    def second_moment(self) -> np.ndarray:
        """:math:`\\hat\\Sigma = n^{-1}\\sum_i x_i x_i^\\top` (the covariance once centred)."""
        return self.inputs.T @ self.inputs / self.n

    def scaled_targets(self, factor: float) -> DataTask:
        """The same task with targets multiplied by ``factor`` (recorded).

        Examples
        --------
        >>> task = DataTask(np.eye(2), [1.0, -1.0])
        >>> task.scaled_targets(2.0).targets[:, 0].tolist()
        [2.0, -2.0]
        """
        if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)):
            raise ValueError(f"factor must be a number, got {factor!r}")
        if not (math.isfinite(factor) and factor != 0):
            raise ValueError(f"factor must be finite and non-zero, got {factor!r}")
        record = dict(self.preprocessing)
        record["target_factor"] = float(factor) * float(record.get("target_factor", 1.0))
        return DataTask(
            self.inputs, self.targets * float(factor), f"{self.name} ×{factor:g}", record
        )

    def to_dict(self) -> dict:
        """Metadata (not the arrays): name, n, d, m, and the preprocessing record."""
        return {
            "name": self.name,
            "n": self.n,
            "d": self.d,
            "m": self.m,
            "preprocessing": dict(self.preprocessing),
        }


# ----------------------------------------------------------------------------- loading

#: Real data sets that scikit-learn ships inside its package (no download), by name:
#: (loader function, description).
BUNDLED: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", "8×8 images of digits 0-9, 1797 × 64, class labels"),
    "breast_cancer": ("load_breast_cancer", "569 × 30, benign/malignant labels 0/1"),
    "wine": ("load_wine", "178 × 13, three cultivars (labels 0, 1, 2)"),
    "iris": ("load_iris", "150 × 4, three species (labels 0, 1, 2)"),
    "diabetes": ("load_diabetes", "442 × 10, disease progression (regression target)"),
    "linnerud": ("load_linnerud", "20 × 3, three physiological targets (vector)"),
}

#: Input scalings (see the module docstring).
SCALES = ("global", "feature", None)

#: Nonlinear (and linear) features of one covariate that a target may be built from.
_FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda v: v,
    "tanh": np.tanh,
    "sin": np.sin,
    "relu": lambda v: np.maximum(v, 0.0),
    "square": lambda v: v**2,
    "cube": lambda v: v**3,
}

#: The label grammar of :func:`load_data` (parsed by regular expressions, never evaluated).
LABEL_GRAMMAR = (
    "centred (the label or target minus its mean; also 'centered'), raw (as given), "
    "standard (minus the mean, over the standard deviation), ovr:K (+1 where the label is "
    "K, -1 elsewhere), parity (+1 for even labels, -1 for odd), onehot (one column per "
    "class, centred: vector targets), or FEATURE:J with FEATURE in "
    f"{', '.join(_FEATURES)} (the feature of input column J, 0-based, after preprocessing)"
)
_LABEL_PATTERN = re.compile(
    r"^(?:(?P<plain>centred|centered|raw|standard|parity|onehot)"
    r"|ovr:(?P<ovr>-?\d{1,9})"
    rf"|(?P<feature>{'|'.join(_FEATURES)}):(?P<column>\d{{1,9}}))$"
)
_GAUSSIAN_PATTERN = re.compile(r"^gaussian:(?P<d>\d{1,6}):(?P<n>\d{1,8})$")
#: Largest synthetic Gaussian sample (entries).
_MAX_GAUSSIAN_ENTRIES = 50_000_000


def _sklearn():
    try:
        import sklearn.datasets as datasets
    except ImportError:
        raise MissingExtraError(
            "the bundled data sets need scikit-learn: pip install 'saddle-escape[data]'",
            name="sklearn",
        ) from None
    return datasets


def _read_bundled(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    datasets = _sklearn()
    loader = getattr(datasets, BUNDLED[name][0])
    x, t = loader(return_X_y=True)
    import sklearn

    return np.asarray(x, float), np.asarray(t), {"kind": "sklearn", "sklearn": sklearn.__version__}


def _npz(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray | None, dict]:
    key = "y" if target is None else target
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if "x" not in names:
                raise ValueError(
                    f"{str(path)!r} has no array 'x' (it holds {names}); save the inputs as x "
                    "and the targets as y: np.savez(path, x=..., y=...)"
                )
            x = archive["x"]
            if key not in names and target is not None:
                raise ValueError(f"{str(path)!r} has no array {key!r} (it holds {names})")
            t = archive[key] if key in names else None
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read {str(path)!r} as .npz: {exc}") from None
    return x, t, {"kind": "npz", "targets_array": key if t is not None else None}


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise ValueError(f"cannot read {what} {str(path)!r}: {exc}") from None
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read {what} {str(path)!r} as .npy: {exc}") from None


def _npy(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict]:
    stem = path.name[: -len(".npy")]
    if stem.endswith("_x"):
        x_path, y_path = path, path.with_name(stem[:-2] + "_y.npy")
    elif stem.endswith("_y"):
        x_path, y_path = path.with_name(stem[:-2] + "_x.npy"), path
    else:
        raise ValueError(
            f"{str(path)!r}: a .npy source is a pair PREFIX_x.npy (inputs) and PREFIX_y.npy "
            "(targets); name the files that way and give either one"
        )
    if not x_path.is_file():
        raise ValueError(f"{str(path)!r}: the inputs file {str(x_path)!r} does not exist")
    x = _load_npy(x_path, "the inputs")
    t = _load_npy(y_path, "the targets") if y_path.is_file() else None
    return x, t, {"kind": "npy", "inputs_file": x_path.name, "targets_file": y_path.name}


def _number(text: str, row: int, column: str, path: Path) -> float:
    text = text.strip()
    if not text:
        raise ValueError(f"{str(path)!r}, row {row}, column {column!r}: missing value")
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{str(path)!r}, row {row}, column {column!r}: {text[:40]!r} is not a number"
        ) from None


def _csv(
    path: Path, target: str | None, covariate: bool
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {str(path)!r} as .csv: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{str(path)!r} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]

    def numeric(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    if all(numeric(h) for h in header):
        raise ValueError(
            f"{str(path)!r} has no header row (its first row is all numbers): the first row "
            "must name the columns"
        )
    if len(set(header)) != len(header):
        raise ValueError(f"{str(path)!r}: the header names a column twice: {header}")
    if target is None and not covariate:
        raise ValueError(
            f"{str(path)!r}: a .csv needs target=COLUMN (--target COLUMN), the header name of "
            "the target column, or a covariate target (labels 'linear:J', 'tanh:J', ...)"
        )
    if target is not None and target not in header:
        raise ValueError(
            f"{str(path)!r} has no column {target!r}; its columns are {', '.join(header)}"
        )
    values = []
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(
                f"{str(path)!r}, row {number}: {len(row)} fields but the header has {len(header)}"
            )
        values.append([_number(cell, number, header[j], path) for j, cell in enumerate(row)])
    table = np.array(values, float)
    columns = [h for h in header if h != target]
    x = table[:, [j for j, h in enumerate(header) if h != target]]
    t = None if target is None else table[:, header.index(target)]
    if x.shape[1] == 0:
        raise ValueError(f"{str(path)!r}: no input column is left besides the target {target!r}")
    return x, t, {"kind": "csv", "target": target, "columns": columns}


def _gaussian(match: re.Match, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    d, n = int(match["d"]), int(match["n"])
    if d < 1 or n < 2 or n * d > _MAX_GAUSSIAN_ENTRIES:
        raise ValueError(
            f"gaussian:D:N needs D ≥ 1, N ≥ 2 and N·D ≤ {_MAX_GAUSSIAN_ENTRIES}, got D = {d}, "
            f"N = {n}"
        )
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x, x[:, 0].copy(), {"kind": "gaussian", "teacher": "y = x_0 (raw sample)"}


def _read(source: str, target: str | None, covariate: bool, seed: int):
    """Raw inputs, raw targets (or None) and the record of where they came from."""
    if not isinstance(source, (str, Path)):
        raise ValueError(f"source must be a path or a data set name, got {source!r}")
    text = str(source)
    gaussian = _GAUSSIAN_PATTERN.match(text)
    suffix = Path(text).suffix.lower()
    if gaussian or text in BUNDLED:
        if target is not None:
            raise ValueError(
                f"target={target!r} names a column of a .csv (or an array of a .npz); "
                f"{text!r} has its own target: choose it with labels"
            )
        return _gaussian(gaussian, seed) if gaussian else _read_bundled(text)
    if suffix not in (".npz", ".npy", ".csv"):
        raise ValueError(
            f"unknown data source {text[:80]!r}: give a file (.npz with arrays x, y; a .npy "
            "pair PREFIX_x.npy/PREFIX_y.npy; a .csv with a header and --target COLUMN), "
            f"gaussian:D:N, or a bundled data set: {', '.join(BUNDLED)}"
        )
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"data file {text!r} does not exist")
    if suffix == ".npz":
        return _npz(path, target)
    if target is not None and suffix == ".npy":
        raise ValueError("target= is for .csv columns and .npz arrays, not for a .npy pair")
    return _npy(path) if suffix == ".npy" else _csv(path, target, covariate)


def _labels(raw: np.ndarray) -> np.ndarray:
    labels = np.asarray(raw)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"class-label encodings need one label per row, got targets of shape {labels.shape}"
        )
    values = _real_array(labels, "labels")
    if not np.all(values == np.round(values)):
        raise ValueError(
            "class-label encodings (ovr:K, parity, onehot) need whole-number labels; these "
            "targets are continuous: use centred, raw or standard"
        )
    labels = values.astype(np.int64)
    classes = np.unique(labels)
    if classes.size > MAX_CLASSES:
        raise ValueError(
            f"class-label encodings (ovr:K, parity, onehot) need class labels; these targets "
            f"take {classes.size} whole-number values (more than {MAX_CLASSES}), a regression "
            "target: use centred, raw or standard"
        )
    return labels


def _targets(labels: str, raw: np.ndarray | None, x: np.ndarray, record: dict) -> np.ndarray:
    match = _LABEL_PATTERN.match(labels) if isinstance(labels, str) else None
    if match is None:
        raise ValueError(f"labels {str(labels)[:60]!r} is not understood; give {LABEL_GRAMMAR}")
    if match["feature"]:
        j = int(match["column"])
        if not 0 <= j < x.shape[1]:
            raise ValueError(
                f"labels {labels!r}: column {j} does not exist (the inputs have {x.shape[1]} "
                f"columns, 0..{x.shape[1] - 1})"
            )
        return _FEATURES[match["feature"]](x[:, j])[:, None]
    if raw is None:
        raise ValueError(
            f"labels {labels!r} needs targets, and this source has none; add them (array y, "
            "--target COLUMN) or build the target from a covariate (labels 'linear:J', ...)"
        )
    if match["plain"] in ("centred", "centered", "raw", "standard"):
        t = _real_array(raw, "targets")
        t = t[:, None] if t.ndim == 1 else t
        if t.ndim != 2 or t.shape[0] != x.shape[0]:
            raise ValueError(
                f"targets have shape {np.shape(raw)}; the inputs have {x.shape[0]} rows: give "
                "one target (row) per input row"
            )
        if match["plain"] == "raw":
            return t
        t = t - t.mean(axis=0)
        if match["plain"] == "standard":
            std = t.std(axis=0)
            if (std == 0).any():
                raise ValueError("labels 'standard': a target column is constant")
            t = t / std
        return t
    values = _labels(raw)
    if values.shape[0] != x.shape[0]:
        raise ValueError(f"{values.shape[0]} labels for {x.shape[0]} input rows")
    classes = sorted({int(v) for v in values})
    record["classes"] = classes
    if match["ovr"] is not None:
        k = int(match["ovr"])
        if k not in classes:
            raise ValueError(f"labels {labels!r}: class {k} does not occur; classes are {classes}")
        return np.where(values == k, 1.0, -1.0)[:, None]
    if match["plain"] == "parity":
        return np.where(values % 2 == 0, 1.0, -1.0)[:, None]
    onehot = (values[:, None] == np.array(classes)[None, :]).astype(float)  # "onehot"
    return onehot - onehot.mean(axis=0)


def _preprocess(x: np.ndarray, center: bool, scale: str | None, record: dict) -> np.ndarray:
    if not isinstance(center, (bool, np.bool_)):
        raise ValueError(f"center must be True or False, got {center!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if center:
        x = x - x.mean(axis=0)
    record["center"] = bool(center)
    record["scale"] = scale
    if scale == "global":
        rms = math.sqrt(float((x**2).mean()))
        if rms == 0:
            raise ValueError(
                "the inputs are constant (all zero after centring): nothing to learn from"
            )
        x = x / rms
        record["scale_factor"] = 1.0 / rms
    elif scale == "feature":
        rms = np.sqrt((x**2).mean(axis=0))
        zero = rms == 0
        if zero.all():
            raise ValueError(
                "the inputs are constant (all zero after centring): nothing to learn from"
            )
        x = x / np.where(zero, 1.0, rms)
        record["scale_factors"] = [float(1 / r) if r else 1.0 for r in rms]
    record["zero_columns"] = [int(j) for j in np.flatnonzero((x == 0).all(axis=0))]
    return x


def task_from_arrays(
    inputs,
    targets=None,
    *,
    name: str = "arrays",
    labels: str = "raw",
    center: bool = True,
    scale: str | None = "global",
    subsample: int | None = None,
    seed: int = 0,
    record: Mapping | None = None,
) -> DataTask:
    """A :class:`DataTask` from arrays, through the preprocessing of :func:`load_data`.

    Parameters are those of :func:`load_data` (``targets`` may be ``None`` with a
    covariate ``labels``); ``labels`` defaults to ``"raw"`` here: the targets as given.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0], [2.0, -1.0]])
    >>> task = task_from_arrays(x, labels="linear:0")
    >>> task.inputs.mean(axis=0).tolist(), round(float((task.inputs ** 2).mean()), 12)
    ([0.0, 0.0], 1.0)
    >>> task.targets[:, 0].tolist() == task.inputs[:, 0].tolist()
    True
    """
    x = _real_array(inputs, "inputs")
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"inputs must have shape (n, d) with n, d ≥ 1, got {x.shape}")
    raw = None if targets is None else np.asarray(targets)
    if raw is not None and (raw.ndim == 0 or raw.shape[0] != x.shape[0]):
        raise ValueError(
            f"inputs have {x.shape[0]} rows but targets have shape {raw.shape}: give one "
            "target row per input row"
        )
    info = dict(record or {})
    n0 = x.shape[0]
    info["rows_in_source"] = n0
    info["subsample"] = None
    if subsample is not None:
        if isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer)):
            raise ValueError(f"subsample must be a whole number of rows, got {subsample!r}")
        if subsample < 2:
            raise ValueError(f"subsample must keep at least 2 rows, got {subsample}")
        if subsample < n0:
            rows = np.sort(np.random.default_rng(seed).choice(n0, int(subsample), replace=False))
            x = x[rows]
            raw = None if raw is None else raw[rows]
            info["subsample"] = {"rows": int(subsample), "of": n0, "seed": int(seed)}
    x = _preprocess(x, center, scale, info)
    info["labels"] = labels
    y = _targets(labels, raw, x, info)
    return DataTask(x, y, name, info)


def load_data(
    source: str,
    *,
    target: str | None = None,
    labels: str = "centred",
    center: bool = True,
    scale: str | None = "global",
    subsample: int | None = None,
    seed: int = 0,
) -> DataTask:
    """Load a data set as a :class:`DataTask`, preprocessed explicitly and recorded.

    Parameters
    ----------
    source : str
        * a ``.npz`` file with arrays ``x`` ``(n, d)`` and ``y`` ``(n,)`` or ``(n, m)``
          (``target`` names another array for the targets);
        * a ``.npy`` pair ``PREFIX_x.npy`` (inputs) and ``PREFIX_y.npy`` (targets; give
          either file);
        * a ``.csv`` file whose first row names the columns; ``target`` names the target
          column, every other column is an input;
        * the name of a real data set that scikit-learn ships inside its package (no
          download; needs ``pip install 'saddle-escape[data]'``): see :data:`BUNDLED`;
        * ``gaussian:D:N``: N seeded samples of x ~ N(0, I_D), target the raw x_0 (an
          isotropic single-mode condition, for calibration).
    target : str, optional
        The target column of a ``.csv`` (required there unless the target is built from a
        covariate), or the targets array of a ``.npz``.
    labels : str
        How targets are made: ``centred`` (default), ``raw``, ``standard``, ``ovr:K``,
        ``parity``, ``onehot``, or ``FEATURE:J`` (see :data:`LABEL_GRAMMAR`).
    center : bool
        Subtract each input column's mean.
    scale : {"global", "feature", None}
        ``"global"``: divide the inputs by the root mean square of their entries, so that
        ``mean_i ‖x_i‖²/d = 1``; ``"feature"``: each column by its own root mean square;
        ``None``: no scaling.
    subsample : int, optional
        Keep this many rows (seeded, without replacement); recorded.
    seed : int
        Seed of the subsample (and of a ``gaussian:D:N`` sample).

    Returns
    -------
    DataTask
        Its ``preprocessing`` records the source, rows, subsample, centring, scale factor,
        labels and classes.

    Raises
    ------
    ValueError
        For an unknown name or suffix, a missing file, column or array, a file without a
        header, NaN or non-numbers, wrong shapes, or a bad label encoding.
    MissingExtraError
        (an ImportError and a ValueError) For a bundled data set without scikit-learn.

    Examples
    --------
    >>> task = load_data("digits", labels="parity")
    >>> task.n, task.d, task.preprocessing["scale"], round(float((task.inputs**2).mean()), 12)
    (1797, 64, 'global', 1.0)
    >>> sorted(set(task.targets[:, 0].tolist()))
    [-1.0, 1.0]
    >>> load_data("mnist")
    Traceback (most recent call last):
    ...
    ValueError: unknown data source 'mnist': give a file ...
    """
    covariate = isinstance(labels, str) and bool(
        (m := _LABEL_PATTERN.match(labels)) and m["feature"]
    )
    x, raw, record = _read(source, target, covariate, seed)
    name = str(source)
    if record["kind"] in ("npz", "npy", "csv"):
        name = Path(name).name + (f"[{target}]" if target else "")
    record = {"source": str(source), **record}
    return task_from_arrays(
        x,
        raw,
        name=f"{name}:{labels}",
        labels=labels,
        center=center,
        scale=scale,
        subsample=subsample,
        seed=seed,
        record=record,
    )
