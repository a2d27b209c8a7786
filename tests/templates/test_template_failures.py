"""What goes wrong is refused early or reported precisely: bad parameters and missing
permissions before any kernel starts; a raising cell, a dying kernel, a failed program
in a batch (and retrying only that one); the CLI and the conversational entry."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import pluma
from pluma import templates
from pluma.cli import cli
from pluma.templates import kernels


def _kernels_started() -> int:
    return sum(p.started for p in kernels._POOLS.values())


@pytest.mark.parametrize("params, error, words", [
    ({"cruise_mach_typo": 0.8}, pluma.InvalidInputError, ["cruise_mach_typo", "did you mean cruise_mach"]),
    ({"cruise_mach": "fast"}, pluma.UnitError, ["cruise_mach", "0.2 .. 0.95"]),
    ({"cruise_mach": 1.4}, pluma.InvalidInputError, ["cruise_mach", "above its maximum 0.95"]),
    ({"span": "36 kg"}, pluma.UnitError, ["span", "cannot be converted to 'm'"]),
    ({"spar_material": "steel"}, pluma.InvalidInputError, ["spar_material", "al7075_t6, cfrp_quasi_isotropic"]),
    ({"span": True}, pluma.InvalidInputError, ["span", "not a boolean"]),
])
def test_bad_parameters_fail_before_any_kernel(ana_ws, params, error, words):
    before, events = _kernels_started(), len(ana_ws.program("AMPEL360").events())
    with pytest.raises(error) as info:
        templates.run(ana_ws.program("AMPEL360"), "cae_wing_analysis", **params)
    for word in words:
        assert word in str(info.value)
    assert _kernels_started() == before and len(ana_ws.program("AMPEL360").events()) == events


def test_units_convert(ana_ws):
    from pluma.templates.binding import bind

    b = bind(ana_ws.program("AMPEL360"), templates.library.get_template("cae_wing_analysis"),
             {"cruise_altitude": "35000 ft", "span": "118 ft"})
    assert b.values["cruise_altitude"] == pytest.approx(10668.0) and b.values["span"] == pytest.approx(35.9664)
    assert b.sources["mtow"] == "context" and b.sources["twist_tip"] == "template"


def test_who_may_not_run_is_refused_before_any_kernel(tws):
    before = _kernels_started()
    viewer = pluma.open(tws, user="vic").program("AMPEL360")
    with pytest.raises(pluma.AccessDenied, match="vic may not change the working context"):
        templates.run(viewer, "cav_test_campaign")
    with pytest.raises(pluma.AccessDenied, match="ana may not read"):
        templates.run(pluma.open(tws, user="ana").program("C3"), "cav_test_campaign")
    assert _kernels_started() == before


def test_a_raising_cell_is_reported_and_changes_no_context(ana_ws, test_templates):
    prog = ana_ws.program("B2")
    rev = prog.context.rev
    with pytest.raises(templates.TemplateFailed) as info:
        templates.run(prog, "raises_for", fail_for="B2")
    run = info.value.run
    assert run.error["ename"] == "ValueError" and "planned failure for B2" in run.error["evalue"]
    assert run.error["cell_index"] == 3  # 0 parameters, 1 injected parameters, 2 record, 3 raise
    assert "B2" in str(info.value) and "cell 3" in str(info.value)
    assert run.outputs["answer"].to("m").magnitude == 42.0 and run.notebook_path.is_file()
    assert prog.context.rev == rev  # a failed run stores nothing ...
    last = templates.template_runs(prog, "raises_for")[-1]
    assert last["status"] == "failed" and last["error"]["ename"] == "ValueError"  # ... but is measured


def test_a_dying_kernel_is_a_failed_run(ana_ws, test_templates):
    run = templates.run(ana_ws.program("B2"), "kernel_dies", raise_on_failure=False)
    assert run.status == "failed" and run.error["ename"] == "DeadKernelError"
    assert run.error["cell_index"] == 2


def test_batch_failure_never_stops_others_and_retry_runs_only_failures(ana_ws, dask_client, test_templates):
    batch = templates.run_batch(ana_ws, "raises_for", ["AMPEL360", "B2", "C3", "NOPE"], client=dask_client,
                                progress=False, fail_for="B2")
    rows = {r["program"]: r for r in batch.summary().to_dict("records")}
    assert rows["AMPEL360"]["status"] == "ok"
    assert rows["B2"]["status"] == "failed" and rows["B2"]["cell"] == 3 and "ValueError: planned" in rows["B2"]["error"]
    assert rows["C3"]["status"] == "denied" and rows["NOPE"]["status"] == "invalid"
    assert set(batch.failed) == {"B2", "C3", "NOPE"}
    again = templates.run_batch(ana_ws, "raises_for", ["AMPEL360", "B2"], client=dask_client, progress=False,
                                retry_failed=True, fail_for="")
    assert [r.program for r in again.runs] == ["B2"] and again.ok
    assert "raises_for" in repr(again) and "<table>" in again._repr_html_()


def test_cli_template_commands(tws, test_templates):
    runner = CliRunner()
    base = ["--home", str(tws), "--user", "ana"]
    listed = json.loads(runner.invoke(cli, base + ["template", "list", "--json"]).stdout)
    assert {"cae_wing_analysis", "raises_for"} <= {t["name"] for t in listed}
    shown = runner.invoke(cli, base + ["template", "show", "cae_wing_analysis"])
    assert shown.exit_code == 0 and "spar_cap_area" in shown.output and "0.2 .. 0.95" in shown.output
    bad = runner.invoke(cli, base + ["template", "run", "cae_wing_analysis", "--program", "AMPEL360", "-p", "cruise_mach=2"])
    assert bad.exit_code == 2 and "cruise_mach = 2 is above its maximum" in bad.stderr
    ok = runner.invoke(cli, base + ["--json", "template", "run", "raises_for", "--program", "AMPEL360", "-p", "fail_for=B2"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert out["status"] == "ok" and out["param_sources"] == {"fail_for": "given"} and out["report"].endswith(".html")
    failed = runner.invoke(cli, base + ["template", "run", "raises_for", "--program", "B2", "-p", "fail_for=B2"])
    assert failed.exit_code == 1 and "ValueError" in failed.stderr


def test_ask_ranks_extracts_and_asks_instead_of_guessing(ana_ws):
    p = templates.ask("wing analysis report for AMPEL360 at Mach 0.8", ana_ws)
    assert p.template == "cae_wing_analysis" and p.programs == ["AMPEL360"] and p.params == {"cruise_mach": 0.8}
    assert p.ready and p.sources["span"] == "context"
    p = templates.ask("wing analysis for AMPEL360 at 11000 m", ana_ws)
    assert not p.ready and any("span, cruise_altitude" in q for q in p.questions)
    p = p.answer(cruise_altitude="11000 m")
    assert p.ready and p.params["cruise_altitude"] == 11000.0
    p = templates.ask("fleet reliability of AMPEL360 with an MTBF target of 600 hours at FL350", ana_ws)
    assert p.template == "cas_fleet_reliability" and p.params["mtbf_target_hours"] == 600.0
    p = templates.ask("trade study", ana_ws)
    assert p.template == "cao_trade_study" and not p.ready and any("which program" in q for q in p.questions)
    p = templates.ask("make me a sandwich", ana_ws)
    assert p.template is None and any("no template fits" in q for q in p.questions)
    with pytest.raises(pluma.InvalidInputError, match="not ready"):
        p.run()
    result = CliRunner().invoke(cli, ["--home", str(ana_ws.location), "--user", "ana", "--json", "ask",
                                      "certification evidence pack DAL A for AMPEL360"])
    proposal = json.loads(result.stdout)
    assert result.exit_code == 0 and proposal["template"] == "cmp_evidence_pack" and proposal["params"] == {"dal": "A"}


def test_a_site_plugs_in_its_own_interpreter(ana_ws):
    from pluma.templates.conversation import Interpretation, register_interpreter

    class Keyword:
        name = "keyword"

        def interpret(self, sentence, templates_, programs):
            ranking = [(t.name, 1.0 if t.phase in sentence else 0.0) for t in templates_]
            return Interpretation(ranking=sorted(ranking, key=lambda x: -x[1]), values={"cruise_mach": "0.7"},
                                  programs=[p for p in programs if p in sentence])

    register_interpreter("keyword", Keyword, replace=True)
    p = templates.ask("CAE for AMPEL360", ana_ws, interpreter="keyword")
    assert p.template == "cae_wing_analysis" and p.params == {"cruise_mach": 0.7} and p.interpreter == "keyword"
    with pytest.raises(pluma.NotFoundError, match="available: .*tfidf"):
        templates.get_interpreter("nope")
