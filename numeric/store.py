"""The results store of sweeps: one SQLite file that survives a crash.

A sweep (:mod:`saddle_escape.numeric.sweep`) writes one :class:`CaseRecord` per finished
case, keyed by the case's deterministic key, into an embedded SQLite database (Python's
:mod:`sqlite3`): write-ahead log (WAL), ``synchronous = FULL``, one transaction per
record, a busy timeout so that several writers wait for each other instead of failing.
A process killed at any moment leaves either the whole record or none of it; a record is
never duplicated (the key is the primary key and the insert is an upsert that never
overwrites a valid result).

The schema is documented in ``docs/store.md``; :data:`SCHEMA_VERSION` is stored in the
``meta`` table and checked on every open.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "OK_STATUSES",
    "CaseRecord",
    "ResultsStore",
    "package_version",
    "utc_now",
    "parse_where",
    "matches",
]

#: Version of the tables below; a store written with another version is refused.
SCHEMA_VERSION = 1
#: Statuses of a valid result: such a record is final (never overwritten, never rerun).
OK_STATUSES = frozenset({"escaped", "success"})
#: How long a writer waits for another one's transaction before giving up (seconds).
BUSY_TIMEOUT = 60.0
#: Longest error message kept in a record (characters).
MAX_MESSAGE = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    key         TEXT PRIMARY KEY,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    tau         REAL,
    evaluations INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    version     TEXT NOT NULL,
    started     TEXT NOT NULL,
    finished    TEXT NOT NULL,
    message     TEXT NOT NULL,
    attempts    INTEGER NOT NULL
);
"""

# A valid result is final: a later write of the same key (a second sweep, a retry)
# changes nothing; a failed one is replaced by the new attempt and its count goes up.
_UPSERT = """
INSERT INTO records (key, params, status, tau, evaluations, seconds, version, started,
                     finished, message, attempts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (key) DO UPDATE SET
    params = excluded.params, status = excluded.status, tau = excluded.tau,
    evaluations = excluded.evaluations, seconds = excluded.seconds,
    version = excluded.version, started = excluded.started, finished = excluded.finished,
    message = excluded.message, attempts = records.attempts + 1
WHERE records.status NOT IN ({ok})
""".format(ok=", ".join(f"'{s}'" for s in sorted(OK_STATUSES)))

_COLUMNS = (
    "key, params, status, tau, evaluations, seconds, version, started, finished, message, attempts"
)


def package_version() -> str:
    """The installed version of saddle-escape (``"unknown"`` from a bare source tree).

    Examples
    --------
    >>> isinstance(package_version(), str)
    True
    """
    try:
        return importlib.metadata.version("saddle-escape")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the millisecond (sorts as text).

    Examples
    --------
    >>> stamp = utc_now()
    >>> stamp.endswith("+00:00"), len(stamp)
    (True, 29)
    """
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _canonical_json(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class CaseRecord:
    """One finished case: its key and parameters, how it ended, counters and times.

    Attributes
    ----------
    key : str
        The case's deterministic key (a hash of its canonical parameters, seed included).
    params : dict
        The canonical parameters (JSON values).
    status : str
        A :class:`~saddle_escape.symbolic.outcomes.Status` value (``"escaped"``, …), or
        ``"error"`` when the case raised or its worker died too often.
    tau : float or None
        Escape time τ★ in gradient-flow time; ``None`` without an escape.
    evaluations : int
        Gradients evaluated (flow) or steps taken (discrete optimizers).
    seconds : float
        Wall-clock seconds of the case in its worker.
    version : str
        The saddle-escape version that computed it.
    started, finished : str
        ISO 8601 UTC times of the start and the end of the case.
    message : str
        What happened, in words (the error for ``"error"``).
    attempts : int
        How many results were written for this key (a failed record may be retried).

    Examples
    --------
    >>> rec = CaseRecord("k1", {"eps": 0.1}, "escaped", 3.5, 40, 0.01, "0.1.0",
    ...                  "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:01.000+00:00")
    >>> rec.ok, rec.to_dict()["params"]
    (True, {'eps': 0.1})
    """

    key: str
    params: dict = field(hash=False)
    status: str
    tau: float | None
    evaluations: int
    seconds: float
    version: str
    started: str
    finished: str
    message: str = ""
    attempts: int = 1

    def __post_init__(self):
        if not isinstance(self.key, str) or not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", self.key):
            raise ValueError(f"record key must be 1-128 letters, digits, _ or -, got {self.key!r}")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"record params must be a mapping, got {type(self.params).__name__}")
        try:
            _canonical_json(self.params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"record params must be finite JSON values: {exc}") from None
        if not isinstance(self.status, str) or not re.fullmatch(r"[a-z_]{1,32}", self.status):
            raise ValueError(f"record status must be a status name, got {self.status!r}")
        if self.tau is not None and not (
            isinstance(self.tau, (int, float)) and math.isfinite(self.tau) and self.tau >= 0
        ):
            raise ValueError(f"record tau must be None or a finite time ≥ 0, got {self.tau!r}")
        if isinstance(self.evaluations, bool) or not isinstance(self.evaluations, int):
            raise ValueError(f"record evaluations must be an int, got {self.evaluations!r}")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds)):
            raise ValueError(f"record seconds must be a finite number, got {self.seconds!r}")
        for name in ("version", "started", "finished", "message"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"record {name} must be a string")

    @property
    def ok(self) -> bool:
        """Whether the record is a valid result (final: never rerun or overwritten)."""
        return self.status in OK_STATUSES

    def to_dict(self) -> dict:
        """JSON-ready form (the ``records`` entries of ``saddle-escape results --json``)."""
        return {
            "key": self.key,
            "params": dict(self.params),
            "status": self.status,
            "tau": self.tau,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "version": self.version,
            "started": self.started,
            "finished": self.finished,
            "message": self.message,
            "attempts": self.attempts,
        }


def _rank(value) -> tuple:
    """A sort key for JSON values of mixed types (None < numbers < strings < lists)."""
    if value is None:
        return (0, 0.0)
    if isinstance(value, bool):
        return (1, float(value))
    if isinstance(value, (int, float)):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


def _order(record: CaseRecord) -> tuple:
    return tuple((name, _rank(record.params[name])) for name in sorted(record.params)), record.key


class ResultsStore:
    """An SQLite results store (WAL, one transaction per record, idempotent writes).

    Parameters
    ----------
    path : str or os.PathLike
        The database file.
    create : bool, optional
        Create the file (and the tables) if missing (default). ``False``: the file must
        exist and be a store.
    timeout : float, optional
        Seconds a writer waits for another writer's lock (SQLite ``busy_timeout``).

    Raises
    ------
    ValueError
        When the file is missing (``create=False``), is not an SQLite database, is a
        database but not a saddle-escape store, or has another schema version.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "results.sqlite")
    >>> rec = CaseRecord("k1", {"eps": 0.1, "seed": 0}, "escaped", 3.5, 40, 0.01, "0.1.0",
    ...                  utc_now(), utc_now())
    >>> with ResultsStore(path) as store:
    ...     store.record(rec), store.record(rec), store.count()  # the second write is a no-op
    (True, False, 1)
    >>> with ResultsStore(path, create=False) as store:
    ...     [r.tau for r in store.records()], store.integrity_check()
    ([3.5], 'ok')
    """

    def __init__(self, path, *, create: bool = True, timeout: float = BUSY_TIMEOUT):
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"store path must be a file name, got {type(path).__name__}")
        self.path = Path(path)
        if not (isinstance(timeout, (int, float)) and timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if self.path.is_dir():
            raise ValueError(f"store {str(self.path)!r} is a directory, not a file")
        if not create and not self.path.is_file():
            raise ValueError(f"no results store at {str(self.path)!r} (run a sweep first)")
        if create and not self.path.parent.is_dir():
            raise ValueError(
                f"store {str(self.path)!r}: directory {str(self.path.parent)!r} is missing"
            )
        uri = self.path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=rw")
        try:
            self._conn = sqlite3.connect(
                uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as exc:
            raise ValueError(f"cannot open store {str(self.path)!r}: {exc}") from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._initialize(create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(
                f"{str(self.path)!r} is not a saddle-escape results store ({exc})"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    def _initialize(self, create: bool) -> None:
        conn = self._conn
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "meta" not in tables:
            if tables or not create:
                raise ValueError(
                    f"{str(self.path)!r} is an SQLite database but not a saddle-escape results "
                    f"store (it has no meta table; tables: {sorted(tables)})"
                )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ValueError(
                f"store {str(self.path)!r}: SQLite refused WAL mode (journal mode {mode!r}); "
                "put the store on a local file system"
            )
        conn.execute("PRAGMA synchronous = FULL")
        if "meta" not in tables:
            self._write(self._create_tables)
        version = self.meta().get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise ValueError(
                f"store {str(self.path)!r} has schema version {version!r}; this saddle-escape "
                f"({package_version()}) reads version {SCHEMA_VERSION}"
            )

    def _create_tables(self, conn) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
            [
                ("schema_version", str(SCHEMA_VERSION)),
                ("application", "saddle-escape results store"),
                ("created", utc_now()),
                ("created_by", package_version()),
            ],
        )

    def _write(self, work) -> Any:
        """Run ``work(conn)`` in one ``BEGIN IMMEDIATE … COMMIT`` transaction."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- writing ---------------------------------------------------------------------

    def record(self, record: CaseRecord) -> bool:
        """Write one record in its own transaction; ``True`` if the store changed.

        An existing valid result (status ``escaped`` or ``success``) is kept as it is; an
        existing failed record is replaced and its ``attempts`` count goes up.
        """
        if not isinstance(record, CaseRecord):
            raise ValueError(f"record must be a CaseRecord, got {type(record).__name__}")
        values = (
            record.key,
            _canonical_json(record.params),
            record.status,
            None if record.tau is None else float(record.tau),
            int(record.evaluations),
            float(record.seconds),
            record.version,
            record.started,
            record.finished,
            record.message[:MAX_MESSAGE],
        )
        return bool(self._write(lambda conn: conn.execute(_UPSERT, values).rowcount))

    # -- reading ---------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dictionary (``schema_version``, ``created``, …)."""
        return dict(self._conn.execute("SELECT name, value FROM meta").fetchall())

    def count(self) -> int:
        """Number of records."""
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def statuses(self) -> dict[str, str]:
        """``{key: status}`` of every record (what a sweep skips)."""
        return dict(self._conn.execute("SELECT key, status FROM records").fetchall())

    def get(self, key: str) -> CaseRecord | None:
        """The record of ``key``, or ``None``."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM records WHERE key = ?", (str(key),)
        ).fetchone()
        return None if row is None else _from_row(row)

    def records(self, where: Mapping[str, Any] | None = None) -> list[CaseRecord]:
        """Every record matching ``where`` (see :func:`matches`), in parameter order.

        Raises
        ------
        ValueError
            If ``where`` names something no record has (a misspelt parameter would
            otherwise silently match nothing).
        """
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM records").fetchall()
        found = [_from_row(row) for row in rows]
        if where:
            known = set(RECORD_FIELDS).union(*(r.params for r in found))
            unknown = sorted(set(where) - known)
            if found and unknown:
                raise ValueError(
                    f"--where {unknown[0]!r}: no record has that parameter; the records "
                    f"have {sorted(known)}"
                )
            found = [r for r in found if matches(r, where)]
        return sorted(found, key=_order)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for an intact file."""
        rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite when the last one closes)."""
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"


def _from_row(row: Sequence) -> CaseRecord:
    key, params, status, tau, evaluations, seconds, version, started, finished, message, att = row
    return CaseRecord(
        key=key,
        params=json.loads(params),
        status=status,
        tau=tau,
        evaluations=int(evaluations),
        seconds=float(seconds),
        version=version,
        started=started,
        finished=finished,
        message=message,
        attempts=int(att),
    )


#: Record fields a ``--where`` filter may name besides the parameters.
RECORD_FIELDS = ("key", "status", "version")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_FILTER = 1000


def parse_where(filters: Iterable[str]) -> dict[str, Any]:
    """``["depth=5", "activation=tanh"]`` → ``{"depth": 5, "activation": "tanh"}``.

    The value is read as JSON when it is JSON (a number, ``[2, 3, 4]``, ``null``,
    ``"quoted"``), else taken as the text written. Nothing here reaches SQL: records are
    matched in Python (:func:`matches`).

    Raises
    ------
    ValueError
        A filter without ``=``, a key that is not a name, a value with control
        characters or longer than 1000 characters, or a key given twice.

    Examples
    --------
    >>> parse_where(["depth=5", "activation=tanh", "bottleneck=[2,3,4]"])
    {'depth': 5, 'activation': 'tanh', 'bottleneck': [2, 3, 4]}
    >>> parse_where(["depth; DROP TABLE records"])
    Traceback (most recent call last):
    ...
    ValueError: --where 'depth; DROP TABLE records': expected KEY=VALUE, e.g. depth=5
    """
    parsed: dict[str, Any] = {}
    for text in filters:
        if not isinstance(text, str) or "=" not in text:
            raise ValueError(f"--where {text!r}: expected KEY=VALUE, e.g. depth=5")
        name, _, value = text.partition("=")
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"--where {text!r}: KEY must be a parameter name (letters, digits, _), got {name!r}"
            )
        if len(value) > _MAX_FILTER or not value.isprintable():
            raise ValueError(
                f"--where {name}: the value must be printable text of at most {_MAX_FILTER} "
                "characters"
            )
        if name in parsed:
            raise ValueError(f"--where names {name!r} twice")
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value.strip()
    return parsed


def _same(left, right) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return float(left) == float(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return type(left) is type(right) and left == right


def matches(record: CaseRecord, where: Mapping[str, Any]) -> bool:
    """Whether ``record`` has every ``name: value`` of ``where``.

    Names are parameters, or the record fields ``key``, ``status`` and ``version``;
    numbers compare by value (``5`` matches ``5.0``), lists element by element.

    Examples
    --------
    >>> rec = CaseRecord("k", {"depth": 5, "eps": 0.1}, "escaped", 1.0, 3, 0.0, "v", "s", "f")
    >>> matches(rec, {"depth": 5}), matches(rec, {"eps": 0.2}), matches(rec, {"status": "escaped"})
    (True, False, True)
    """
    for name, value in where.items():
        if name in RECORD_FIELDS:
            actual = getattr(record, name)
        elif name in record.params:
            actual = record.params[name]
        else:
            return False
        if not _same(actual, value):
            return False
    return True
