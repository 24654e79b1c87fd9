"""The first look in a real browser (Chromium, a real Streamlit server): the main page is "Home" in
the sidebar and the backend status is text a browser without emoji fonts shows."""

from __future__ import annotations

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
