"""``saddle-escape sweep`` and ``results``: the contract, and a store that survives kills.

The kill tests run the command as a child process (``python -m saddle_escape sweep``),
SIGKILL the coordinator or one of its workers part-way, and check that every case ends
in the store exactly once with the values of an uninterrupted run. Those values are equal
exactly (not to a tolerance): every case is deterministic (seeded network and data, a
fixed integrator, one BLAS thread per worker).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from saddle_escape.numeric.store import ResultsStore
from saddle_escape.numeric.sweep import parse_spec, run_sweep

from saddle_escape.cli import main
from tests.numeric.test_sweep import CONTRACT  # the contract spec, stated once

#: 24 small cases of about 0.1 s each: slow enough to be killed part-way.
KILL_SPEC = """
[grid]
activation = ["tanh"]
depth = [4]
width = [16]
bottleneck = [[2, 3, 4]]
eps = [0.2, 0.1, 0.05, 0.02]
seed = [0, 1, 2, 3, 4, 5]

[options]
input_dim = 4
samples = 1000
"""
KILL_CASES = 24

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds worker processes through /proc"
)


def _run(argv, capsys) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_contract_spec_and_results_json(tmp_path, capsys):
    spec, store = _write(tmp_path / "sweep.toml", CONTRACT), tmp_path / "results.sqlite"
    status, out, _ = _run(
        ["sweep", str(spec), "--store", str(store), "--workers", "1", "--json"], capsys
    )
    summary = json.loads(out)
    assert status == 0 and summary["command"] == "sweep"
    assert (summary["cases"], summary["recorded"], summary["escaped"]) == (9, 9, 9)
    status, out, _ = _run(["results", str(store), "--json"], capsys)
    data = json.loads(out)
    assert status == 0 and {"version", "command", "records", "groups"} <= set(data)
    assert len(data["records"]) == 9 and len({r["key"] for r in data["records"]}) == 9
    for record in data["records"]:
        assert {"key", "params", "status", "tau", "evaluations", "seconds", "version"} <= set(
            record
        )
        assert record["status"] == "escaped" and record["tau"] > 0
        assert record["params"]["samples"] == 256 and record["params"]["input_dim"] == 16
    (group,) = data["groups"]
    assert set(group["params"]) == set(data["records"][0]["params"]) - {"eps", "seed"}
    assert group["slope"] < 0 and group["slope_std"] > 0 and len(group["slopes"]) == 3
    # rerun: nothing to do
    status, out, _ = _run(
        ["sweep", str(spec), "--store", str(store), "--workers", "1", "--json"], capsys
    )
    assert status == 0 and (json.loads(out)["skipped"], json.loads(out)["recorded"]) == (9, 0)
    # text, CSV and filters
    status, out, _ = _run(["results", str(store)], capsys)
    assert status == 0 and "9 record(s)" in out and "slope of ln τ★ vs ln ε" in out
    status, out, _ = _run(["results", str(store), "--csv", "--where", "eps=0.1"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and len(rows) == 3 and {r["eps"] for r in rows} == {"0.1"}
    assert {r["bottleneck"] for r in rows} == {"[2,3,4]"}
    status, out, _ = _run(
        ["results", str(store), "--json", "--where", "seed=1", "--where", "eps=0.2"], capsys
    )
    assert [r["params"]["seed"] for r in json.loads(out)["records"]] == [1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["results", "{store}", "--json", "--csv"], "give --json or --csv, not both"),
        (["results", "{store}", "--where", "eps=0.1' OR 1=1 --"], None),
        (["results", "{store}", "--where", "seed;DROP TABLE records"], "expected KEY=VALUE"),
        (["results", "{store}", "--where", "sede=1"], "no record has that parameter"),
        (["results", "{dir}/missing.sqlite"], "no results store"),
        (["results", "{spec}"], "not a saddle-escape results store"),
        (["sweep", "{dir}/missing.toml", "--store", "{store}"], "no sweep spec"),
        (["sweep", "{bad}", "--store", "{store}"], "[grid].eps[0] must be a finite number"),
    ],
)
def test_bad_input_exits_2_and_leaves_the_store_alone(tmp_path, capsys, argv, message):
    spec = _write(
        tmp_path / "sweep.toml",
        CONTRACT.replace("depth = [5]", "depth = [3]").replace("[[2, 3, 4]]", "[[2, 3]]"),
    )
    bad = _write(tmp_path / "bad.toml", CONTRACT.replace("0.3, 0.2", "-0.3, 0.2"))
    store = tmp_path / "results.sqlite"
    assert main(["sweep", str(spec), "--store", str(store), "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    names = {"store": store, "dir": tmp_path, "spec": spec, "bad": bad}
    status, out, err = _run([a.format(**names) for a in argv], capsys)
    if message is None:  # a value that looks like SQL is a value: nothing matches
        assert status == 0 and "no records" in out
    else:
        assert status == 2 and message in err
    with ResultsStore(store) as opened:
        assert opened.count() == 9 and opened.integrity_check() == "ok"


def test_retry_failed_from_the_command_line(tmp_path, capsys):
    spec = _write(
        tmp_path / "sweep.toml",
        CONTRACT.replace("eps = [0.3, 0.2, 0.1]", "eps = [0.3]").replace(
            "seed = [0, 1, 2]", "seed = [0]"
        )
        + f"dataset = ['{tmp_path / 'gone.npz'}']\n",
    )
    store = str(tmp_path / "results.sqlite")
    argv = ["sweep", str(spec), "--store", store, "--workers", "1", "--json"]
    status, out, _ = _run(argv, capsys)
    assert status == 0 and json.loads(out)["failed"] == 1
    status, out, _ = _run(argv, capsys)
    assert (json.loads(out)["skipped"], json.loads(out)["recorded"]) == (1, 0)
    status, out, _ = _run([*argv, "--retry-failed"], capsys)
    assert json.loads(out)["recorded"] == 1
    with ResultsStore(store) as opened:
        (record,) = opened.records()
    assert record.status == "error" and record.attempts == 2 and "gone.npz" in record.message


# -- kills -----------------------------------------------------------------------------------


def _sweep(spec: Path, store: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "saddle_escape", "sweep", str(spec), "--store", str(store)]
    return subprocess.Popen(
        [*argv, "--quiet", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the cleanup kills it whole
    )


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{store}?mode=rw", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}")
        time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has stopped computing


def _pool_workers(parent: int) -> list[int]:
    """The spawned pool workers of process ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in command and _alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


@contextlib.contextmanager
def _killed_at_the_end(process: subprocess.Popen, workers: list[int] | None = None):
    """Whatever happens, the processes this test started end: the sweep's process group
    while the sweep lives, and the listed workers (orphans the test may have made)."""
    try:
        yield process
    finally:
        if process.poll() is None:  # the group we started, workers included
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for pid in workers or []:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ValueError):  # pipes already read
            process.communicate(timeout=60)


def _records(store: Path) -> dict[str, tuple]:
    with ResultsStore(store, create=False) as opened:
        assert opened.integrity_check() == "ok"
        rows = opened._conn.execute("SELECT key, COUNT(*) FROM records GROUP BY key").fetchall()
        assert all(n == 1 for _, n in rows)
        return {r.key: (r.status, r.tau, r.evaluations, r.attempts) for r in opened.records()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, tuple]:
    """The kill spec's records from one uninterrupted run (in this process, serially)."""
    store = tmp_path_factory.mktemp("reference") / "results.sqlite"
    summary = run_sweep(parse_spec(KILL_SPEC), store, workers=1)
    assert summary.recorded == summary.escaped == KILL_CASES
    return _records(store)


@linux_only
def test_a_killed_coordinator_loses_only_what_was_in_flight(tmp_path, uninterrupted):
    spec, store = _write(tmp_path / "sweep.toml", KILL_SPEC), tmp_path / "results.sqlite"
    workers: list[int] = []
    with _killed_at_the_end(_sweep(spec, store, "--workers", "2"), workers) as process:
        _wait_for(lambda: _count(store) >= 3, 120, "three records")
        workers += _pool_workers(process.pid)
        assert workers
        process.send_signal(signal.SIGKILL)  # kill -9 of the coordinator only
        process.wait(timeout=30)
        kept = _count(store)
        assert 3 <= kept < KILL_CASES, "the kill should land part-way"
        # its workers die with it (PR_SET_PDEATHSIG): nothing computes for nobody
        _wait_for(lambda: not any(map(_alive, workers)), 10, "the orphaned workers to exit")
    assert len(_records(store)) == kept
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "saddle_escape",
            "sweep",
            str(spec),
            "--store",
            str(store),
            "--workers",
            "2",
            "--json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["skipped"], summary["recorded"]) == (kept, KILL_CASES - kept)
    assert _records(store) == uninterrupted  # every case once, the same values exactly


@linux_only
def test_a_killed_worker_is_replaced_and_its_case_retried(tmp_path, uninterrupted):
    spec, store = _write(tmp_path / "sweep.toml", KILL_SPEC), tmp_path / "results.sqlite"
    with _killed_at_the_end(_sweep(spec, store, "--workers", "2")) as process:
        _wait_for(
            lambda: _count(store) >= 2 and len(_pool_workers(process.pid)) == 2,
            120,
            "two records and two workers",
        )
        victim = _pool_workers(process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    summary = json.loads(out)
    assert summary["restarts"] >= 1 and summary["unfinished"] == 0
    assert summary["recorded"] + summary["skipped"] == KILL_CASES
    assert _records(store) == uninterrupted


#: 24 cases of a few hundredths of a second: two sweeps of it overlap in time.
SMALL_SPEC = KILL_SPEC.replace("width = [16]", "width = [4]").replace(
    "samples = 1000", "samples = 32"
)
SMALL_CASES = 24


def test_two_sweeps_into_one_store_record_each_case_once(tmp_path):
    spec, store = _write(tmp_path / "sweep.toml", SMALL_SPEC), tmp_path / "results.sqlite"
    processes = [_sweep(spec, store, "--workers", "1") for _ in range(2)]
    summaries = []
    for process in processes:
        with _killed_at_the_end(process):
            out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        summaries.append(json.loads(out))
    # each case was stored by exactly one of them; the other skipped it
    assert sum(s["recorded"] for s in summaries) == SMALL_CASES
    assert all(s["recorded"] + s["skipped"] == SMALL_CASES for s in summaries)
    reference = tmp_path / "reference.sqlite"
    run_sweep(parse_spec(SMALL_SPEC), reference, workers=1)
    assert _records(store) == _records(reference)


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("whom", ["coordinator", "group"])
def test_ctrl_c_drains_the_running_cases_and_exits_130(tmp_path, uninterrupted, whom):
    spec, store = _write(tmp_path / "sweep.toml", KILL_SPEC), tmp_path / "results.sqlite"
    with _killed_at_the_end(_sweep(spec, store, "--workers", "2")) as process:
        _wait_for(lambda: _count(store) >= 3, 120, "three records")
        if whom == "coordinator":  # kill -INT of the coordinator
            process.send_signal(signal.SIGINT)
        else:  # Ctrl-C in a terminal: the whole process group
            os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "error: interrupted" in err
    assert "unfinished cases have no record" in err
    stored = _records(store)
    assert 3 <= len(stored) < KILL_CASES
    assert all(uninterrupted[key] == value for key, value in stored.items())
