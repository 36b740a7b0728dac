"""Declarative sweeps: spec validation, case keys, the coordinator's bookkeeping."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest
from saddle_escape.numeric import sweep as sweep_module
from saddle_escape.numeric.simulate import he_sweep, slope_summary
from saddle_escape.numeric.store import CaseRecord, ResultsStore, utc_now
from saddle_escape.numeric.sweep import (
    DEFAULTS,
    case_key,
    load_spec,
    parse_spec,
    run_case,
    run_sweep,
    summarize,
)

CONTRACT = """
# sweep.toml
[grid]
activation = ["tanh"]
depth = [5]
width = [16]
bottleneck = [[2, 3, 4]]
eps = [0.3, 0.2, 0.1]
seed = [0, 1, 2]
"""

#: Small and fast: 6 cases of a few hundredths of a second each.
SMALL = {
    "grid": {
        "activation": ["tanh"],
        "depth": [3],
        "width": [4],
        "bottleneck": [[2, 3]],
        "eps": [0.3, 0.2, 0.1],
        "seed": [0, 1],
    },
    "options": {"input_dim": 2, "samples": 32},
}


def test_the_contract_spec_is_nine_cases_with_the_simulate_defaults():
    spec = parse_spec(CONTRACT)
    assert len(spec) == 9 and len({c.key for c in spec.cases}) == 9
    first = spec.cases[0].params
    assert first == {
        "activation": "tanh",
        "init": "he",
        "depth": 5,
        "width": 16,
        "bottleneck": [2, 3, 4],
        "eps": 0.3,
        "seed": 0,
        "dataset": "gaussian",
        "optimizer": "flow",
        "fraction": 0.5,
        "loss": "squared",
        "input_dim": 16,  # d = N, as simulate's default
        "samples": 256,
        "rtol": 1e-6,
    }
    assert {(c.params["eps"], c.params["seed"]) for c in spec.cases} == {
        (e, s) for e in (0.3, 0.2, 0.1) for s in (0, 1, 2)
    }


def test_keys_are_canonical():
    keys = [c.key for c in parse_spec(CONTRACT).cases]
    explicit = (
        CONTRACT + "\n[options]\nsamples = 256\nrtol = 1e-6\ninit = 'he'\noptimizer = 'flow'\n"
    )
    assert [c.key for c in parse_spec(explicit).cases] == keys
    shuffled = CONTRACT.replace("[[2, 3, 4]]", "[[4, 2, 3]]").replace(
        "[0.3, 0.2, 0.1]", "[0.1, 0.3, 0.2]"
    )
    assert {c.key for c in parse_spec(shuffled).cases} == set(keys)
    # a flow case ignores the discrete optimizers' settings: the same key, kept once
    mixed = parse_spec(CONTRACT + "optimizer = ['flow', 'gd']\nlr = [0.01, 0.02]\n")
    assert len(mixed) == 9 + 2 * 9
    assert {c.key for c in mixed.cases if c.params["optimizer"] == "flow"} == set(keys)
    assert all(c.key == case_key(c.params) for c in mixed.cases)
    other_seed = dict(parse_spec(CONTRACT).cases[0].params, seed=7)
    assert case_key(other_seed) not in keys


def test_the_contract_cases_are_exactly_simulates(tmp_path):
    summary = run_sweep(parse_spec(CONTRACT), tmp_path / "r.sqlite", workers=1)
    assert (summary.recorded, summary.escaped, summary.unfinished) == (9, 9, 0)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        records = store.records()
    reference = he_sweep("tanh", (16, 16, 16, 16, 16, 1), (2, 3, 4), [0.3, 0.2, 0.1], 3)
    tau = {(r.eps, r.seed): r.tau for r in reference}
    assert {(r.params["eps"], r.params["seed"]): r.tau for r in records} == tau
    (group,) = summarize(records)
    expected = slope_summary(reference)
    # the same fits, the points in another order: equal to rounding
    assert group.slope == pytest.approx(expected["slope"], rel=1e-12)
    assert group.slope_std == pytest.approx(expected["slope_std"], rel=1e-12)
    assert list(group.slopes) == pytest.approx(expected["slopes"], rel=1e-12)
    assert group.cases == group.escaped == 9 and group.expected_slope == -1
    assert "eps" not in group.params and "seed" not in group.params


def test_slopes_per_group_recover_a_power_law():
    records = []
    for depth, exponent in ((4, 1.0), (6, 3.0)):
        for seed in (0, 1, 2):
            for eps in (0.1, 0.05, 0.02):
                params = {"depth": depth, "eps": eps, "seed": seed}
                tau = (1.0 + seed) * eps**-exponent
                now = utc_now()
                records.append(
                    CaseRecord(case_key(params), params, "escaped", tau, 1, 0.0, "v", now, now)
                )
    records.append(
        CaseRecord(
            "x" * 8, {"depth": 4, "eps": 0.01, "seed": 0}, "error", None, 0, 0.0, "v", "t", "t"
        )
    )
    groups = summarize(records)
    assert [g.params for g in groups] == [{"depth": 4}, {"depth": 6}]
    assert [round(g.slope, 12) for g in groups] == [-1.0, -3.0]
    assert groups[0].cases == 10 and groups[0].escaped == 9
    assert groups[0].slope_std == pytest.approx(0.0, abs=1e-12)


BAD_SPECS = [
    ("[grid]\nactivation = ['tanh'", "not valid TOML"),
    (
        "[grid]\nactivation = ['tanh']\ndepth = [5]",
        "missing ['width', 'bottleneck', 'eps', 'seed']",
    ),
    (CONTRACT + "colour = ['red']", "[grid].colour: unknown key"),
    (CONTRACT + "[extra]\na = 1", "unknown table or key 'extra'"),
    (CONTRACT.replace("depth = [5]", "depth = []"), "[grid].depth is an empty list"),
    (CONTRACT.replace("depth = [5]", "depth = 5"), "[grid].depth must be a list"),
    (CONTRACT.replace("depth = [5]", "depth = ['5']"), "[grid].depth[0] must be a whole number"),
    (CONTRACT.replace("depth = [5]", "depth = [true]"), "[grid].depth[0] must be a whole number"),
    (CONTRACT.replace("depth = [5]", "depth = [1]"), "[grid].depth[0] must be from 2 to 64"),
    (CONTRACT.replace("width = [16]", "width = [1.5]"), "[grid].width[0] must be a whole number"),
    (CONTRACT.replace("0.3, 0.2", "nan, 0.2"), "[grid].eps[0] must be a finite number in (0, 1)"),
    (CONTRACT.replace("0.3, 0.2", "1.5, 0.2"), "[grid].eps[0] must be a finite number in (0, 1)"),
    (CONTRACT.replace("seed = [0, 1, 2]", "seed = [-1]"), "[grid].seed[0] must be from 0"),
    (CONTRACT.replace("[[2, 3, 4]]", "[[2, 2]]"), "[grid].bottleneck[0] lists a layer twice"),
    (CONTRACT.replace("[[2, 3, 4]]", "[[]]"), "[grid].bottleneck[0] must be a non-empty list"),
    (CONTRACT.replace("[[2, 3, 4]]", "[[2, 6]]"), "names layer 6 but depth 5 has layers 1..5"),
    (CONTRACT.replace('["tanh"]', "[\"__import__('os').system('true')\"]"), "[grid].activation"),
    (CONTRACT.replace('["tanh"]', "['exp(-1/x**2)']"), "non-analytic at 0"),
    (CONTRACT.replace('["tanh"]', '["tanh\\u001b[2J"]'), "must be printable"),
    (CONTRACT.replace('["tanh"]', "['" + "x+" * 300 + "x']"), "at most 500"),
    (CONTRACT + "loss = ['open(\"/etc/passwd\")']", "[grid].loss"),
    (CONTRACT + "optimizer = ['adam']", "[grid].optimizer[0] must be one of"),
    (CONTRACT + "optimizer = ['gd']", "optimizer 'gd' needs lr"),
    (CONTRACT + "optimizer = ['sgd']\nlr = [0.1]", "optimizer 'sgd' needs batch_size"),
    (CONTRACT + "lr = [0.1]", "lr is given but no case uses it"),
    (CONTRACT + "target = ['y']", "names a target but the data set is 'gaussian'"),
    (CONTRACT + "[options]\nsamples = [1, 2]", "[options].samples is a list"),
    (CONTRACT + "[options]\ndepth = 4", "depth is given in both [grid] and [options]"),
    (CONTRACT + "[options]\nrtol = 0", "[options].rtol must be a finite number in (0, 0.1)"),
    (CONTRACT + "[options]\nreplacement = 'yes'", "[options].replacement must be true or false"),
    ("grid = 3", "[grid] must be a table"),
    ("[options]\nsamples = 3", "no [grid] table"),
    (
        CONTRACT.replace("seed = [0, 1, 2]", f"seed = {list(range(10_000))}").replace(
            "width = [16]", "width = [4, 8, 16, 32]"
        ),
        "at most 100000 per spec",
    ),
]


@pytest.mark.parametrize("text, message", BAD_SPECS, ids=[m[:40] for _, m in BAD_SPECS])
def test_bad_specs_are_refused_with_the_key_and_the_reason(text, message):
    assert text != CONTRACT  # the spec was broken as meant
    with pytest.raises(ValueError) as info:
        parse_spec(text)
    assert message in str(info.value)


def test_spec_files(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(CONTRACT, encoding="utf-8")
    assert [c.key for c in load_spec(path).cases] == [c.key for c in parse_spec(CONTRACT).cases]
    with pytest.raises(ValueError, match="no sweep spec at"):
        load_spec(tmp_path / "missing.toml")
    path.write_bytes(b"\xff\xfe[grid]")
    with pytest.raises(ValueError, match="is not UTF-8"):
        load_spec(path)
    path.write_text(CONTRACT.replace("depth = [5]", "depth = [0]"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[grid\]\.depth\[0\] must be from 2 to 64"):
        load_spec(path)


def test_several_grids_and_every_optimizer():
    text = """
[[grid]]
activation = ["tanh", "gelu"]
depth = [3]
width = [4]
bottleneck = [[2]]
eps = [0.3]
seed = [0]
optimizer = ["flow", "gd", "sgd", "momentum"]
lr = [0.05]

[[grid]]
activation = ["tanh"]
depth = [4]
width = [4]
bottleneck = [[2, 3, 4]]
eps = [0.3]
seed = [0]

[options]
input_dim = 2
samples = 32
batch_size = 8
momentum = 0.5
"""
    spec = parse_spec(text)
    assert len(spec) == 2 * 4 + 1
    by_kind = {
        c.params["optimizer"]: c.params for c in spec.cases if c.params["activation"] == "gelu"
    }
    assert "lr" not in by_kind["flow"] and by_kind["flow"]["rtol"] == DEFAULTS["rtol"]
    assert "batch_size" not in by_kind["gd"] and by_kind["gd"]["lr"] == 0.05
    assert by_kind["sgd"]["batch_size"] == 8 and by_kind["sgd"]["replacement"] is False
    assert by_kind["momentum"]["momentum"] == 0.5 and "rtol" not in by_kind["momentum"]
    for case in spec.cases:
        record = run_case(case)
        assert record.status == "escaped", (case.params, record.message)
        assert record.tau > 0 and record.key == case.key


def test_a_failing_case_is_an_error_record_not_a_crash(tmp_path):
    spec = parse_spec(
        {
            "grid": {
                **SMALL["grid"],
                "dataset": [str(tmp_path / "missing.npz")],
                "eps": [0.3],
                "seed": [0],
            }
        }
    )
    (case,) = spec.cases
    record = run_case(case)
    assert record.status == "error" and record.tau is None
    assert "missing.npz" in record.message


def test_rerun_skips_and_retry_failed_reruns_only_failed_records(tmp_path):
    path = tmp_path / "r.sqlite"
    spec = parse_spec(SMALL)
    victim = spec.cases[2]
    with ResultsStore(path) as store:  # a failure recorded by an earlier run
        now = utc_now()
        store.record(
            CaseRecord(victim.key, victim.params, "budget_exhausted", None, 9, 0.0, "0", now, now)
        )
    first = run_sweep(spec, path, workers=1)
    assert (first.skipped, first.recorded, first.escaped) == (1, 5, 5)
    again = run_sweep(spec, path, workers=1)
    assert (again.skipped, again.recorded) == (6, 0)
    with ResultsStore(path) as store:
        assert store.get(victim.key).status == "budget_exhausted"
    retry = run_sweep(spec, path, workers=1, retry_failed=True)
    assert (retry.skipped, retry.recorded, retry.escaped) == (5, 1, 1)
    with ResultsStore(path) as store:
        fixed = store.get(victim.key)
        assert (fixed.status, fixed.attempts) == ("escaped", 2)
        assert fixed.tau == run_case(victim).tau
        assert all(r.attempts == 1 for r in store.records() if r.key != victim.key)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_submitting_and_keeps_what_finished(tmp_path):
    path = tmp_path / "r.sqlite"
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the second case

    before = signal.getsignal(signal.SIGINT)
    summary = run_sweep(parse_spec(SMALL), path, workers=1, progress=progress)
    assert summary.interrupted and summary.recorded == 2 and summary.unfinished == 4
    assert signal.getsignal(signal.SIGINT) is before  # restored
    with ResultsStore(path) as store:
        assert store.count() == 2
    rest = run_sweep(parse_spec(SMALL), path, workers=1)
    assert (rest.skipped, rest.recorded, rest.interrupted) == (2, 4, False)


class _FakePool:
    """Futures that fail as a broken pool does, for the coordinator's retry budget."""

    def __init__(self, fail_keys):
        self.fail_keys = set(fail_keys)
        self.submitted = []

    def submit(self, case):
        self.submitted.append(case.key)
        future = Future()
        if case.key in self.fail_keys:
            future.set_exception(BrokenProcessPool("a worker died"))
        else:
            future.set_result(run_case(case))
        return future


def test_a_case_whose_worker_always_dies_is_retried_then_recorded_as_an_error(tmp_path):
    spec = parse_spec(SMALL)
    doomed = spec.cases[0]
    pool = _FakePool({doomed.key})
    with ResultsStore(tmp_path / "r.sqlite") as store:
        coordinator = sweep_module._Coordinator(
            store, len(spec), retry_failed=False, max_attempts=3, progress=None
        )
        queue = deque(spec.cases)
        rounds = 0
        while queue and rounds < 10:  # as run_sweep: rebuild the pool after a break
            rounds += 1
            broken = sweep_module._drive(pool, pool.submit, queue, 2, coordinator, _NeverSet())
            if not broken:
                break
        assert pool.submitted.count(doomed.key) == 3 and rounds == 4
        record = store.get(doomed.key)
        assert record.status == "error" and "died 3 times" in record.message
        assert store.count() == len(spec) and coordinator.counts["retried"] == 2
        assert all(r.status == "escaped" for r in store.records() if r.key != doomed.key)


class _NeverSet:
    def is_set(self):
        return False


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="workers must be"):
        run_sweep(SMALL, tmp_path / "r.sqlite", workers=-1)
    with pytest.raises(ValueError, match="max_attempts"):
        run_sweep(SMALL, tmp_path / "r.sqlite", max_attempts=0)
    with pytest.raises(ValueError, match="no sweep spec"):
        run_sweep(tmp_path / "missing.toml", tmp_path / "r.sqlite")


def test_a_dask_cluster_runs_the_same_cases(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = parse_spec(SMALL)
    local = run_sweep(spec, tmp_path / "local.sqlite", workers=1)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        remote = run_sweep(spec, tmp_path / "dask.sqlite", scheduler=cluster.scheduler_address)
    assert remote.recorded == local.recorded == len(spec) and remote.scheduler is not None
    with ResultsStore(tmp_path / "local.sqlite") as a, ResultsStore(tmp_path / "dask.sqlite") as b:
        assert [(r.key, r.tau) for r in a.records()] == [(r.key, r.tau) for r in b.records()]


@pytest.mark.slow
def test_a_lost_dask_worker_costs_nothing(tmp_path):
    """A Dask worker process killed mid-sweep: its cases are rerun elsewhere."""
    distributed = pytest.importorskip("distributed")
    import threading

    spec = parse_spec(
        {
            "grid": {
                **SMALL["grid"],
                "width": [16],
                "eps": [0.2, 0.1, 0.05, 0.02],
                "seed": list(range(6)),
            },
            "options": {"input_dim": 4, "samples": 400},
        }
    )
    path = tmp_path / "dask.sqlite"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        results = []
        runner = threading.Thread(
            target=lambda: results.append(
                run_sweep(spec, path, scheduler=cluster.scheduler_address)
            )
        )
        runner.start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with ResultsStore(path) as store:
                    if store.count() >= 3:
                        break
                time.sleep(0.02)
            pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker process dies
        finally:
            runner.join(timeout=300)
    (summary,) = results
    assert summary.unfinished == 0 and summary.recorded == len(spec)
    reference = run_sweep(spec, tmp_path / "local.sqlite", workers=1)
    assert reference.recorded == len(spec)
    with ResultsStore(path) as a, ResultsStore(tmp_path / "local.sqlite") as b:
        assert [(r.key, r.tau, r.attempts) for r in a.records()] == [
            (r.key, r.tau, 1) for r in b.records()
        ]
