"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real Streamlit server.

Flow: upload a zip of class folders, start a run on the embedded backend, wait until the live curve
shows at least two points, and keep a screenshot of each step under test-artifacts/ (path printed).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, make_colour_images
from dashboard_server import start_dashboard

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def dashboard(tmp_path, model_dir):
    env = dict(os.environ, SEMSCALE_MODEL_DIR=str(model_dir), SEMSCALE_RESULTS=str(tmp_path / "browser.duckdb"),
               SEMSCALE_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT),
               SEMSCALE_DATA_ROOTS=str(tmp_path))  # a test's own image folders, as a user's current folder
    proc, url = start_dashboard(env, tmp_path / "streamlit.log")
    yield url, tmp_path
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def colour_zip(tmp_path: Path) -> Path:
    root = make_colour_images(tmp_path / "zipsrc" / "colours", per_class=12)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(root.rglob("*.*")):
            zf.write(f, f.relative_to(root.parent).as_posix())
        zf.writestr("../escape.png", b"nope")
    path = tmp_path / "colours.zip"
    path.write_bytes(buf.getvalue())
    return path


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def plotted_points(page) -> int:
    """Largest number of points in any line trace of the charts on the page."""
    return page.evaluate("""() => {
        let most = 0;
        for (const el of document.querySelectorAll('.js-plotly-plot')) {
            (el._fullData || []).forEach((trace, i) => {
                if (trace.mode && trace.mode.includes('markers')) most = Math.max(most, (el.calcdata[i] || []).length);
            });
        }
        return most;
    }""")


def eventually(read, timeout: float = 30.0):
    """The first value `read()` gives that is true, polled until `timeout`: charts draw some time after the text
    around them, so a fixed wait raced a slow CI (a chart read before Plotly had drawn it)."""
    deadline = time.monotonic() + timeout
    while not (value := read()):
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.3)
    return value


def chart(page, title: str):
    """The drawn chart whose title holds `title`: charts draw in their own time, so a chart's place on the page
    named a different one for a moment (CI read the legend 'trace 0' of the bars beside the per-class chart)."""
    return page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=title))


def per_class_legend(page) -> list[str]:
    """The per-class chart's legend: one entry a class."""
    return sorted(chart(page, "Per-class accuracy").evaluate(
        "el => el._fullData.filter(t => t.showlegend !== false).map(t => t.name)"))


def test_upload_zip_run_and_watch_the_curve(dashboard, page, tmp_path):
    url, _ = dashboard
    page.goto(url)
    page.get_by_text("semscale: more names").wait_for()
    page.get_by_text("CLIP backend:").wait_for()
    shot(page, "1-home")

    page.get_by_role("link", name="Data").click()
    page.get_by_text("Zip of class folders").click()
    page.locator("input[type=file]").set_input_files(str(colour_zip(tmp_path)))
    page.get_by_text("Unpacked 48 images in 4 classes").wait_for()
    page.get_by_text("path leaves the archive").first.wait_for(state="attached")  # unsafe member reported
    shot(page, "2-data")

    page.get_by_role("link", name="Synonyms").click()
    domain = page.get_by_label("Domain word D", exact=False)
    domain.fill("colour")  # colours share no WordNet category: the user gives the domain word
    domain.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Paper scheme", exact=False).click()
    page.get_by_text("up to 12 names each").wait_for()  # the authors' 12 names, D = colour
    shot(page, "3-synonyms")

    page.get_by_role("link", name="Run").click()
    page.get_by_role("button", name="Start").click()
    deadline = time.monotonic() + 120
    while plotted_points(page) < 2:
        assert time.monotonic() < deadline, "the live curve never showed two points"
        page.wait_for_timeout(500)
    page.get_by_text("status done").wait_for(timeout=120_000)
    assert eventually(lambda: plotted_points(page) == 5)  # levels 1, 2, 4, 8, 12
    shot(page, "4-run")

    page.get_by_role("link", name="Results").click()
    page.get_by_text("Confusion matrix").wait_for()
    page.get_by_text("best accuracy").first.wait_for()  # the threshold sentence of the curve
    page.get_by_text("Explain one image").wait_for()
    assert per_class_legend(page) == ["blue", "green", "red", "yellow"]  # per-class chart, one line a class
    gallery = page.locator("[data-testid=stImage] img")
    assert eventually(lambda: gallery.count() >= 1 and gallery.first.evaluate("img => img.naturalWidth") > 0)
    page.set_viewport_size({"width": 1400, "height": 5200})  # the page scrolls inside Streamlit's own container
    page.wait_for_timeout(1500)
    shot(page, "5-results")


def test_bad_uploads_show_a_message_next_to_the_widget(dashboard, page, tmp_path):
    url, _ = dashboard
    page.goto(url)
    page.get_by_role("link", name="Data").click()
    page.get_by_text("Zip of class folders").click()
    fake = tmp_path / "photos.zip"
    fake.write_text("this is not a zip")
    page.locator("input[type=file]").set_input_files(str(fake))
    page.get_by_text("photos.zip: the uploaded file is not a valid zip archive").wait_for()
    shot(page, "6-bad-zip")


def images_scored(page) -> int:
    """Images behind the first curve point, read from the chart's hover data (customdata[3])."""
    return page.evaluate("""() => {
        for (const el of document.querySelectorAll('.js-plotly-plot'))
            for (const trace of (el._fullData || []))
                if (trace.customdata && trace.customdata.length) return Number(trace.customdata[0][3]);
        return 0;
    }""")


def test_live_curve_follows_a_cli_run_and_cancel_stops_it(dashboard, page, model_dir, shared_datasets):
    url, tmp = dashboard
    env = dict(os.environ, PYTHONPATH=str(ROOT), SEMSCALE_DATA_DIR=str(shared_datasets))
    cli = subprocess.Popen([sys.executable, "-m", "semscale", "--results", str(tmp / "browser.duckdb"), "run",
                            "--dataset", "cifar10-1k", "--local", str(model_dir), "--batch-size", "1",
                            "--scheme", "paper"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        page.goto(url + "/Run")
        page.get_by_text("status running").wait_for()
        seen = []
        deadline = time.monotonic() + 20
        while len(set(seen)) < 4 and time.monotonic() < deadline:  # the curve grows while we watch
            seen.append(images_scored(page))
            page.wait_for_timeout(700)
        assert len(set(seen)) >= 4 and seen == sorted(seen), seen
        shot(page, "7-live-cli-run")
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text("status cancelled").wait_for(timeout=30_000)
        assert cli.wait(timeout=30) == 3  # the CLI reports a run that did not finish
        shot(page, "8-cancelled")
    finally:
        cli.kill()


def test_results_page_shows_a_harmful_name_its_flips_and_a_recommendation(dashboard, page, colour_dir, model_dir):
    """A CLI run where 'blue' listed under red steals the six blue images at level 2 (tests/test_cli_analysis.py)."""
    from test_cli import semscale
    from test_cli_analysis import LABELS

    url, tmp = dashboard
    labels = tmp / "labels.yaml"
    labels.write_text(yaml.safe_dump(LABELS))
    made = semscale("--results", str(tmp / "browser.duckdb"), "run", "--dataset", str(colour_dir), "--labels",
                    str(labels), "--local", str(model_dir), "--aggregation", "max", "--aggregation", "probsum")
    assert made.returncode == 0, made.stderr
    page.set_viewport_size({"width": 1400, "height": 6400})  # the page scrolls inside Streamlit's own container
    page.goto(url + "/Results")
    page.get_by_text("Explain one image").wait_for()
    page.get_by_text("then declines (significantly worse from 2)").first.wait_for()  # threshold sentence
    page.get_by_text("6 of 24 images wrong").wait_for()
    assert per_class_legend(page) == ["blue", "green", "red", "yellow"]
    gallery = page.locator("[data-testid=stImage] img")
    # misclassified, flipped by 'blue' (red), the explained photo; each one loaded
    assert eventually(lambda: gallery.count() == 6 + 6 + 1 and all(
        gallery.nth(i).evaluate("img => img.naturalWidth") > 0 for i in range(gallery.count()))), gallery.count()
    page.get_by_text("6 images flipped by 'blue' (red) added to the base name alone").wait_for()
    page.get_by_role("button", name="Recommend a label set").click()
    page.get_by_text("Recommended label set (YAML)").wait_for()
    curve = chart(page, "Accuracy against names per class")

    def hover() -> str:
        """The curve chart's hover label where the mouse rests, 0.3 of the way in (unified hover: every curve)."""
        box = curve.bounding_box()
        for nudge in (0.0, 0.01):  # a move inside the plot is what makes Plotly draw its label
            page.mouse.move(box["x"] + box["width"] * (0.3 + nudge), box["y"] + box["height"] * 0.3)
        return curve.locator(".hoverlayer").first.text_content() or ""

    assert eventually(lambda: "· max" in (said := hover()) and "· probsum" in said), hover()  # the rerun redraws
    shot(page, "9-results-names")


def test_results_page_starts_the_missing_wordnet_run_and_compares_it_with_paper_names(dashboard, page, colour_dir,
                                                                                      model_dir):
    """Only a paper-names run exists: one click starts its WordNet partner, the next shows the comparison."""
    from test_cli import semscale

    url, tmp = dashboard
    made = semscale("--results", str(tmp / "browser.duckdb"), "run", "--dataset", str(colour_dir), "--preset", "paper",
                    "--domain", "colour", "--local", str(model_dir))
    assert made.returncode == 0, made.stderr
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.goto(url + "/Results")
    curve = chart(page, "Accuracy against names per class")
    ticks = eventually(lambda: curve.locator(".xtick text").all_text_contents())
    assert ticks == [str(k) for k in range(1, 13)], ticks  # the paper preset's k = 1 ... 12, every one labelled
    page.get_by_text("a finished run with WordNet names on the same images").wait_for()
    start = page.get_by_role("button", name="Start the run with WordNet names (synonyms scheme) to compare")
    start.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => b.innerText.includes("
                           "'synonyms scheme') && !b.disabled)", timeout=60_000)  # once the backend check answered
    start.click()
    page.get_by_text("the comparison is offered here once it is done").wait_for()
    page.get_by_role("button", name="Compare paper names vs WordNet names").click(timeout=120_000)  # once it is done
    page.get_by_text("Two runs, level by level").wait_for()
    page.get_by_text("Different label sets:").wait_for()
    page.get_by_text("A vs B:").wait_for()
    caption = page.get_by_text("(paper names), B = ").text_content()
    assert "(WordNet names (synonyms scheme))" in caption, caption
    shot(page, "10-paper-vs-wordnet")


def test_pages_log_no_theme_warning_in_the_browser_console(dashboard, page):
    """Streamlit's page warned of an invalid sidebar text colour on every page until .streamlit/config.toml
    gave [theme.sidebar] one."""
    url, _ = dashboard
    said = []
    page.on("console", lambda m: said.append(f"{m.type}: {m.text}"))
    for path in ("", "/Data", "/Results"):
        page.goto(url + path)
        page.get_by_role("heading").first.wait_for()
        page.wait_for_timeout(1500)
    assert not [m for m in said if "theme" in m or "Invalid color" in m], said


def test_images_with_a_csv_manifest_are_labelled_by_it_and_named_as_the_user_names_them(dashboard, page, tmp_path):
    url, _ = dashboard
    root = make_colour_images(tmp_path / "src", per_class=1)
    images = sorted(root.rglob("*.jpg"))
    manifest = tmp_path / "colour-cards.csv"
    manifest.write_text("path,label\n" + "".join(f"cards/{f.name},{f.parent.name}\n" for f in images))
    page.goto(url + "/Data")
    page.get_by_text("Images with labels").click()
    page.locator("input[type=file]").set_input_files([str(manifest), *map(str, images)])
    page.get_by_text("The manifest labels 4 of the 4 images").wait_for()
    name = page.get_by_role("textbox", name="Name of this image set")
    from playwright.sync_api import expect

    expect(name).to_have_value("colour-cards", timeout=30_000)  # from the manifest's file name (drawn after the table)
    page.get_by_role("button", name="Use these images").click()
    page.get_by_text("Stored 4 images in 4 classes").wait_for()
    page.get_by_text("colour-cards: 4 images, 4 classes").wait_for()  # never a hash
    shot(page, "11-csv-manifest-upload")
