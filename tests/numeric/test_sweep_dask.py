import json

import pytest
from saddle_escape.numeric.simulate import he_sweep, slope_summary

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as local:
        yield local


def test_sweep_through_a_dask_cluster_matches_the_local_run(cluster):
    args = ("tanh", (8, 8, 8, 8, 8, 1), (2, 3, 4), [0.3, 0.1], 2)
    with distributed.Client(cluster) as client:
        remote = he_sweep(*args, samples=64, executor=client.get_executor())
    local = he_sweep(*args, samples=64)
    assert [r.to_dict() for r in remote] == [r.to_dict() for r in local]
    assert slope_summary(remote)["slope"] < 0


def test_simulate_cli_with_a_scheduler_address(cluster, capsys):
    from saddle_escape.cli import main

    status = main(
        [
            "simulate",
            "--depth",
            "4",
            "--width",
            "8",
            "--bottleneck",
            "2,3",
            "--eps",
            "0.3,0.1",
            "--seeds",
            "1",
            "--samples",
            "32",
            "--scheduler",
            cluster.scheduler_address,
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert status == 0 and len(data["records"]) == 2
