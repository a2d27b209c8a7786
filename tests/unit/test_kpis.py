"""KPIs on a workspace built here with known events give the known values."""

from __future__ import annotations

import json

import pytest

import pluma
from pluma.kpis import kpis
from tests.conftest import fill_cad, make_program


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    root = tmp_path_factory.mktemp("kpis") / "ws"
    admin = pluma.open(root, user="admin")
    for name in ("A", "B", "C"):
        make_program(admin, name)
    fill_cad(pluma.open(root, user="ana").program("A").context)
    raj = pluma.open(root, user="raj").program("A")
    raj.gate().approve()
    frozen = pluma.open(root, user="admin").frozen(raj.advance().ref)
    child = frozen.clone("A2")                      # shares everything: CRR 1.0
    child2 = frozen.clone("A3", overrides={"span": 30.0})
    pluma.open(root, user="pam").program("C").kill("cancelled")
    return root, [child.origin["reuse"], child2.origin["reuse"]]


def test_kpis_rest_on_records_and_say_when_there_are_none(known):
    root, reuses = known
    report = kpis(pluma.open(root, user="admin"), query_probes=5)
    assert report["ptr"].value == 4 and report["ptr"].records == 5  # A, B, A2, A3 in flight; C killed
    crr = report["crr"]
    assert crr.records == 2
    expected = sum(r["shared_bytes"] for r in reuses) / sum(r["total_bytes"] for r in reuses)
    assert crr.value == pytest.approx(expected)
    for name in ("fsl_p99", "parallel_efficiency", "mse", "template_p95", "param_reuse"):
        assert report[name].value is None and report[name].records == 0 and report[name].source == "no records"
    q = report["query_p95"]
    assert q.records == 5 and q.value > 0 and "1 frozen contexts" in q.note
    frame = report.to_frame()
    assert frame.loc["ptr", "value"] == 4
    assert json.loads(json.dumps(report.to_dict()))["kpis"][0]["name"] == "ptr"
    assert "no records" in str(report) and "<table>" in report._repr_html_()


def test_kpis_only_see_what_the_user_may_read(known):
    root, _ = known
    report = kpis(pluma.open(root, user="stranger"), query_probes=3)
    assert report["ptr"].value == 0 and report["crr"].value is None and report["query_p95"].value is None


def test_plot_helper_draws_the_measured_kpis(known):
    import matplotlib

    matplotlib.use("Agg")
    root, _ = known
    ax = kpis(pluma.open(root, user="admin"), query_probes=2).plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Programs in flight (PTR)" in labels and "Federation sync latency p99" not in labels


def test_sweep_and_template_kpis_from_known_records(tmp_path):
    from pluma.sweeps.metering import record_usage

    root = tmp_path / "ws"
    admin = pluma.open(root, user="admin")
    make_program(admin, "S")
    prog = pluma.open(root, user="ana").program("S")
    # two sweeps: 3 core-s of work on 2 cores for 2 s, 1 core-s on 2 cores for 1 s -> (3 + 1) / (4 + 2)
    record_usage(prog, {"core_seconds": 3.0, "wall_seconds": 2.0, "cores": 2, "parallel_efficiency": 0.75,
                        "scale_up_seconds": 2.0, "scale_up_workers": 2})
    record_usage(prog, {"core_seconds": 1.0, "wall_seconds": 1.0, "cores": 2, "parallel_efficiency": 0.5,
                        "scale_up_seconds": 4.0, "scale_up_workers": 2})
    record_usage(prog, {"core_seconds": 1.0, "wall_seconds": 0.6, "cores": 2, "parallel_efficiency": 0.83})
    runs = [(1.0, {"span": "context", "mach": "given"}), (2.0, {"span": "frozen", "mach": "template"}),
            (3.0, {"span": "context", "mach": "context"})]
    enclave = prog._enclave
    for duration, sources in runs:
        enclave.update(prog._branch, lambda txn, d=duration, s=sources: prog._append_event(
            txn, "template_run", template="t", run_id=f"r{d}", duration_s=d, status="ok", param_sources=s),
            message="template run", metadata={"author": "ana", "kind": "template_run"})
    report = kpis(pluma.open(root, user="admin"), query_probes=0)
    assert report["parallel_efficiency"].value == pytest.approx(5.0 / 7.2) and report["parallel_efficiency"].records == 3
    assert report["mse"].value == pytest.approx(3.0) and report["mse"].records == 2
    assert report["param_reuse"].value == pytest.approx(4 / 6) and report["param_reuse"].records == 3
    assert report["template_p95"].value == pytest.approx(2.9) and report["template_p95"].records == 3
