"""Prompt templates are parsed, not counted: one plain {} that really carries the name."""

import pytest
from test_cli import semscale

from semscale.core.errors import SemscaleError
from semscale.run.config import RunConfig, template_error

GOOD = ["a photo of a {}.", "{}", "a {} with {{braces}}", "itap of a {}"]
BAD = {
    "a photo of a {{}}.": "no {} field",  # formats to the same text for every name
    "a {} {0}": "other field",
    "a {0}": "other field",
    "a {name}": "other field",
    "a {:>10}": "format spec",
    "a {!r}": "format spec",
    "a {} and a {}": "exactly one {}",
    "no slot": "no {} field",
    "a {": "stray brace",
    "a {} }": "stray brace",
}


@pytest.mark.parametrize("template", GOOD)
def test_good_templates_pass(template):
    assert template_error(template) is None
    RunConfig(dataset="x", templates=[template]).validate()


@pytest.mark.parametrize("template,reason", BAD.items())
def test_bad_templates_are_refused_with_the_reason(template, reason):
    problem = template_error(template)
    assert problem is not None and reason in problem, problem
    with pytest.raises(SemscaleError, match="exactly one {}"):
        RunConfig(dataset="x", templates=[template]).validate()


@pytest.mark.parametrize("template", ["a photo of a {{}}.", "a {} {0}"])
def test_the_cli_refuses_them_before_a_run_starts(tmp_path, colour_dir, model_dir, template):
    db = tmp_path / "r.duckdb"
    out = semscale("--results", str(db), "run", "--dataset", str(colour_dir), "--local", str(model_dir),
                   "--template", template)
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "Traceback" not in out.stderr, out.stderr
    assert template in out.stderr
    assert "no runs" in semscale("--results", str(db), "list").stdout


def test_the_run_page_shows_the_problem_under_the_box_and_disables_start(dashboard_env):
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    at.session_state["dataset"] = "cifar10-1k"
    at.run()
    start = lambda: next(b for b in at.button if b.label == "Start")  # noqa: E731
    assert not at.exception and not start().disabled
    at.text_area(key="templates").input("a photo of a {}.\na photo of a {{}}.").run()
    assert [e.value for e in at.error] == ["Template 'a photo of a {{}}.' has no {} field for the name."]
    assert start().disabled and any("Start is disabled" in c.value for c in at.caption)
    at.text_area(key="templates").input("a photo of a {}.").run()
    assert not at.error and not start().disabled
