"""The SQLite results store: idempotent writes, refusals, and survival of a killed writer."""

from __future__ import annotations

import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from saddle_escape.numeric.store import (
    SCHEMA_VERSION,
    CaseRecord,
    ResultsStore,
    matches,
    parse_where,
    utc_now,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "store.md"


def _record(key="k1", status="escaped", tau=2.5, **params) -> CaseRecord:
    params = {"depth": 5, "eps": 0.1, "seed": 0, **params}
    return CaseRecord(key, params, status, tau, 40, 0.25, "0.1.0", utc_now(), utc_now(), "msg")


def test_a_record_round_trips_and_a_second_write_of_it_is_a_no_op(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        assert store.record(_record()) is True
        assert store.record(_record()) is False
        assert store.count() == 1
        got = store.get("k1")
    assert got is not None
    assert got.to_dict() == {
        **_record().to_dict(),
        "started": got.started,
        "finished": got.finished,
    }
    assert got.params == {"depth": 5, "eps": 0.1, "seed": 0} and got.attempts == 1
    with ResultsStore(path, create=False) as store:
        assert store.meta()["schema_version"] == str(SCHEMA_VERSION)
        assert store.integrity_check() == "ok"
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_valid_result_is_final_and_a_failed_one_is_replaced(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record(_record("good"))
        assert store.record(_record("good", status="error", tau=None)) is False
        assert store.get("good").status == "escaped"
        store.record(_record("bad", status="budget_exhausted", tau=None))
        assert store.record(_record("bad", status="escaped", tau=7.0)) is True
        bad = store.get("bad")
        assert (bad.status, bad.tau, bad.attempts) == ("escaped", 7.0, 2)
        assert store.record(_record("bad", status="error", tau=None)) is False  # now final
        assert store.statuses() == {"good": "escaped", "bad": "escaped"}


def test_the_schema_is_the_documented_one(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    conn = sqlite3.connect(path)
    text = DOCS.read_text(encoding="utf-8")
    for table in ("records", "meta"):
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        for column in columns:
            assert re.search(rf"^\| `{column}` +\|", text, re.M), (table, column)
    assert f"schema_version` | `{SCHEMA_VERSION}`" in text


def test_records_come_back_in_parameter_order_and_filter_by_value(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for n, eps in enumerate([0.3, 1e-05, 0.1]):
            store.record(_record(f"k{n}", eps=eps))
        assert [r.params["eps"] for r in store.records()] == [1e-05, 0.1, 0.3]
        assert [r.key for r in store.records({"eps": 0.1})] == ["k2"]
        assert [r.key for r in store.records(parse_where(["eps=1e-5", "depth=5.0"]))] == ["k1"]
        with pytest.raises(ValueError, match="'dpeth': no record has that parameter"):
            store.records({"dpeth": 5})


@pytest.mark.parametrize(
    "text, message",
    [
        ("depth", "expected KEY=VALUE"),
        ("depth; DROP TABLE records", "expected KEY=VALUE"),
        ("1=1 OR 1=1", "KEY must be a parameter name"),
        ("eps') OR ('1'='1=0.1", "KEY must be a parameter name"),
        ("activation=tanh\x00", "printable"),
        ("activation=" + "x" * 1001, "at most 1000"),
    ],
)
def test_hostile_filters_are_refused(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_where([text])


def test_filter_values_are_data_not_sql(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.record(_record(activation="tanh"))
        where = parse_where(["activation=tanh' OR '1'='1"])
        assert where == {"activation": "tanh' OR '1'='1"}
        assert store.records(where) == [] and store.count() == 1


def test_matching_compares_numbers_by_value_but_not_booleans():
    rec = _record(bottleneck=[2, 3], flag=True)
    assert matches(rec, {"bottleneck": [2, 3], "depth": 5.0})
    assert not matches(rec, {"bottleneck": [2, 3, 4]})
    assert matches(rec, {"flag": True}) and not matches(rec, {"flag": 1})
    assert not matches(rec, {"depth": "5"})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"key": "a b"}, "record key"),
        ({"tau": math.nan}, "record tau"),
        ({"tau": -1.0}, "record tau"),
        ({"status": "DROP TABLE"}, "record status"),
        ({"params": {"eps": math.inf}}, "finite JSON"),
        ({"evaluations": 1.5}, "record evaluations"),
    ],
)
def test_bad_records_are_refused(change, message):
    fields = _record().to_dict()
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        CaseRecord(**fields)


def test_what_is_not_a_store_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no results store"):
        ResultsStore(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(ValueError, match="is a directory"):
        ResultsStore(tmp_path)
    with pytest.raises(ValueError, match="directory .* is missing"):
        ResultsStore(tmp_path / "nowhere" / "r.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="not a saddle-escape results store"):
        ResultsStore(garbage)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE people (name TEXT)").connection.commit()
    with pytest.raises(ValueError, match="not a saddle-escape results store"):
        ResultsStore(other)
    future = tmp_path / "future.sqlite"
    ResultsStore(future).close()
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(ValueError, match="schema version '99'"):
        ResultsStore(future)


_WRITER = r"""
import sys
from saddle_escape.numeric.store import CaseRecord, ResultsStore, utc_now
store = ResultsStore(sys.argv[1])
for n in range(1_000_000):
    key = f"{sys.argv[2]}{n % 500}"
    store.record(CaseRecord(key, {"n": n, "pad": "x" * 2000}, "error", None, n, 0.0, "v",
                            utc_now(), utc_now(), "m" * 1000))
    if n == 20:
        print("writing", flush=True)
"""


def _writer(path, prefix) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), prefix], stdout=subprocess.PIPE, text=True
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_writer_killed_mid_write_leaves_an_intact_store(tmp_path):
    path = tmp_path / "r.sqlite"
    writer = _writer(path, "k")
    try:
        assert writer.stdout.readline().strip() == "writing"
        time.sleep(0.3)  # many transactions later, one of them in progress
        assert (tmp_path / "r.sqlite-wal").exists()
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        writer.kill()
        writer.stdout.close()
    with ResultsStore(path) as store:
        assert store.integrity_check() == "ok"
        records = store.records()
        assert len(records) == store.count() >= 20
        assert all(r.params["pad"] == "x" * 2000 and r.message == "m" * 1000 for r in records)
        assert store.record(_record("after")) and store.get("after") is not None


def test_two_writers_of_the_same_keys_never_duplicate_one(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    writers = [_writer(path, "same") for _ in range(2)]
    try:
        for w in writers:
            assert w.stdout.readline().strip() == "writing"
        time.sleep(0.5)  # both busy writing the same 500 keys
        assert all(w.poll() is None for w in writers)  # neither failed on a lock
    finally:
        for w in writers:
            w.kill()
            w.wait(timeout=30)
            w.stdout.close()
    with ResultsStore(path) as store:
        assert store.integrity_check() == "ok"
        keys = [row[0] for row in store._conn.execute("SELECT key FROM records")]
        assert len(keys) == len(set(keys)) == store.count() <= 500
        assert max(r.attempts for r in store.records()) > 1  # keys were written again
