"""The first look in a real browser (Chromium, a real Streamlit server): the main page is "Home" in
the sidebar and the backend status is text a browser without emoji fonts shows."""

from __future__ import annotations

import os

from conftest import ROOT
from dashboard_server import start_dashboard
from test_browser import dashboard, page  # noqa: F401  (fixtures: the server and the browser)


def test_sidebar_says_home_and_the_backend_badge_is_text(dashboard, page):  # noqa: F811
    url, _ = dashboard
    page.goto(url)
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.get_by_role("link", name="Home").wait_for()
    assert nav.get_by_role("link", name="app").count() == 0
    page.get_by_text("ready", exact=True).wait_for()  # the badge, once the background check answered
    line = page.locator("[data-testid=stMarkdownContainer]", has_text="CLIP backend:").inner_text()
    assert "16-d embeddings" in line and "🟢" not in line and "🔴" not in line
    nav.get_by_role("link", name="Data").click()
    page.get_by_role("heading", name="Data").wait_for()
    nav.get_by_role("link", name="Home").click()
    page.get_by_text("One-click demo").wait_for()


def test_home_shows_the_first_model_download_then_ready(tmp_path, model_dir, page):  # noqa: F811
    """No model cached, a hub stand-in on loopback sending the tiny model slowly: the home page
    answers at once with "starting" and the download's MB and MB/s, then turns ready."""
    from fakehub import FakeHub

    repos = {"Qdrant/clip-ViT-B-32-vision": model_dir / "vision", "Qdrant/clip-ViT-B-32-text": model_dir / "text"}
    with FakeHub(repos, chunk=256, pause=0.12) as hub:
        env = {k: v for k, v in os.environ.items() if k != "SEMSCALE_MODEL_DIR"}
        env |= {"HF_ENDPOINT": hub.url, "FASTEMBED_CACHE_PATH": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
                "SEMSCALE_RESULTS": str(tmp_path / "r.duckdb"), "SEMSCALE_HOME": str(tmp_path / "home")}
        proc, url = start_dashboard(env, tmp_path / "streamlit.log")
        try:
            page.goto(url)
            page.get_by_text("starting", exact=True).wait_for()
            page.get_by_text("fetching the model once:").wait_for()
            assert "MB/s" in page.get_by_text("fetching the model once:").inner_text()
            page.get_by_text("ready", exact=True).wait_for()
            assert "16-d embeddings" in page.locator("[data-testid=stMarkdownContainer]",
                                                      has_text="CLIP backend:").inner_text()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
