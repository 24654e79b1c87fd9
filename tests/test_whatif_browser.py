"""The Synonyms page's what-if in a real browser (Debian's Chromium, Playwright, a real Streamlit server): a
name typed into the names table moves the what-if curve to the hand-computed one, and nothing is stored.

The backend is the designed model (tests/designed.py); the results file holds a finished run of its six
images with designed.LABELS. Typing 'zebra' over cat's 'chime' gives cat [cat, zebra, cloud]:
  probsum level 2 (ant + apple, bee + bell, cat + zebra): k4 bee e^85 > cat e^84 + 1 (wrong), k5 cat e^40 + 1
          > bee e^39.5 + e^30, k1 ant e^60 + e^79.5 > cat 2; the rest lead by e^30: 5/6 (the run: 6/6).
  probsum level 3: the names of tests/test_whatif.py's edit, in another order (order does not matter at the
          last level): 4/6 (the run: 5/6).
  max     level 2: k1 apple .795 > zebra 0, k4 bell .85 > cat .84 (wrong), k5 cat .40 > bee .395: 5/6;
          level 3 as the run: 4/6. So max does not move, and probsum does.
"""

from __future__ import annotations

import os
import time
from urllib.parse import quote

import designed
import pytest
import yaml
from conftest import ROOT
from dashboard_server import start_dashboard
from test_browser import page, shot  # noqa: F401 - the browser fixture
from test_whatif import contents

from semscale.models.encoders import LocalEncoder
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore


@pytest.fixture
def designed_dashboard(tmp_path):
    """A dashboard whose backend is the designed model, with a finished run of its images."""
    model, images = designed.build(tmp_path / "model"), designed.write_images(tmp_path / "images")
    db = tmp_path / "browser.duckdb"
    run_id = Engine(ResultsStore(db), LocalEncoder(model)).run(RunConfig(
        dataset=str(images), labels=designed.LABELS, aggregations=["max", "mean", "probsum"], schedule="1,2,3"))
    env = dict(os.environ, SEMSCALE_MODEL_DIR=str(model), SEMSCALE_RESULTS=str(db),
               SEMSCALE_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(ROOT), SEMSCALE_DATA_ROOTS=str(tmp_path))
    proc, url = start_dashboard(env, tmp_path / "streamlit.log")
    yield url, images, db, run_id
    proc.terminate()
    proc.wait(timeout=20)


def curves(page) -> dict[str, list[int]]:  # noqa: F811
    """Each named curve of the page's charts, as right predictions of the six images per level."""
    return {name: [round(6 * y) for y in ys] for name, ys in page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('.js-plotly-plot')].flatMap(el => el._fullData.map((t, i) =>
            [t.name, (el.calcdata[i] || []).map(p => p.y)])).filter(([name]) => name && !name.startsWith('trace ')))""")
        .items()}


def test_a_typed_name_moves_the_what_if_curve_and_stores_nothing(designed_dashboard, page, tmp_path):  # noqa: F811
    url, images, db, run_id = designed_dashboard
    stored = contents(ResultsStore(db))
    labels = tmp_path / "designed.yaml"
    labels.write_text(yaml.safe_dump({"classes": designed.LABELS}))
    page.set_viewport_size({"width": 1400, "height": 2600})  # the page scrolls inside Streamlit's own container
    page.goto(f"{url}/Synonyms?dataset={quote(str(images))}")
    page.get_by_text("What if: these names on a finished run").wait_for()
    page.locator("input[type=file]").set_input_files(str(labels))  # the run's own names to start from
    page.get_by_text("Loaded designed.yaml").wait_for()
    mine, run = "the names above (not saved) · ", f"run {run_id} (its names) · "
    deadline = time.monotonic() + 60
    while len((before := curves(page)).get(mine + "probsum", [])) < 3:  # the chart of the loaded names
        assert time.monotonic() < deadline, before
        page.wait_for_timeout(300)
    assert before[mine + "probsum"] == before[run + "probsum"] == [6, 6, 5]  # the same names: the same curve
    shot(page, "11-what-if-before")

    grid = page.locator("[data-testid=stDataFrame]").nth(1)  # the names table (the first: display names)
    chime = next(i for i, (c, n) in enumerate((c, n) for c, ns in designed.LABELS.items() for n in ns) if n == "chime")
    cell = grid.locator(f"[data-testid=glide-cell-2-{chime}]")  # the grid's accessible copy of its name cell
    page.wait_for_function("cell => cell.textContent === 'chime'", arg=cell.element_handle(timeout=60_000))
    box = grid.locator("[data-testid=data-grid-canvas]").bounding_box()  # the header row and the rows
    row = 35  # px per row, the header's too
    page.mouse.click(box["x"] + 260, box["y"] + row * (chime + 1) + row / 2)
    page.wait_for_function("cell => cell.getAttribute('aria-selected') === 'true'", arg=cell.element_handle())
    page.keyboard.press("Enter")  # opens the cell's editor
    editor = page.locator("textarea.gdg-input")
    editor.wait_for()
    assert editor.input_value() == "chime"
    editor.fill("zebra")
    editor.press("Enter")
    page.get_by_text("1 new prompt encoded").wait_for()
    after = curves(page)
    assert after[mine + "probsum"] == [6, 5, 4] and after[mine + "max"] == after[run + "max"] == [6, 5, 4]
    assert after[run + "probsum"] == [6, 6, 5]  # the run's own curve stays beside it
    shot(page, "12-what-if-after")
    assert contents(ResultsStore(db)) == stored
