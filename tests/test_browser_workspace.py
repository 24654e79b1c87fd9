"""Nothing lost on a reload, in a real browser (Debian's Chromium, a real Streamlit server): an edited name
and a Run setting survive page.reload(), under the same ?ws= link, and the Paper preset leaves the name."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect
from test_browser import dashboard, page, shot  # noqa: F401  (fixtures: the server and the browser)


def link(page) -> str:  # noqa: F811
    return parse_qs(urlparse(page.url).query)["ws"][0]


def idle(page) -> None:  # noqa: F811
    """Once the page's script run is over (Streamlit shows its status widget while a run works)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="detached")


def names_cell(page, column: int, row: int):  # noqa: F811
    """A cell of the Synonyms page's name table (its second grid), as the grid's accessible table has it
    (column 0 is the row selector: 1 class, 2 name)."""
    return page.locator("[data-testid=stDataFrame]").nth(1).locator(f"[data-testid=glide-cell-{column}-{row}]")


def steady_box(locator) -> dict:
    """Where `locator` is once it stopped moving: a page still laying out moved the grid under a click at
    coordinates measured before, and the click then edited the display-name grid above it."""
    box = locator.bounding_box()
    while True:
        locator.page.wait_for_timeout(300)
        again = locator.bounding_box()
        if again == box:
            return box
        box = again


def type_name(page, row: int, name: str) -> None:  # noqa: F811
    """Type `name` over the name in `row` of the name table, as a user does: select the row's class cell,
    step right, open the cell's editor, replace its text, Enter."""
    deadline = time.monotonic() + 60
    while names_cell(page, 2, row).text_content() != name:
        assert time.monotonic() < deadline, "the name table never took the edit"
        idle(page)
        grid = page.locator("[data-testid=stDataFrame]").nth(1)
        grid.scroll_into_view_if_needed()
        box = steady_box(grid.locator("canvas").first)
        page.mouse.click(box["x"] + 80, box["y"] + 35 * (row + 1) + 17)  # below the 35 px header, 35 px rows
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        page.keyboard.press("Control+a")
        page.keyboard.type(name)
        page.keyboard.press("Enter")
        page.wait_for_timeout(1000)
    idle(page)


def test_an_edited_name_and_a_run_setting_survive_a_reload_and_the_paper_preset(dashboard, page):  # noqa: F811
    url, _ = dashboard
    page.goto(url + "/Data")
    page.get_by_role("heading", name="Data").wait_for()
    ws = link(page)
    page.get_by_role("button", name="Use this dataset").click()  # clothing, the first built-in
    page.get_by_text("clothing: 713 images, 10 classes").wait_for()

    nav = page.locator("[data-testid=stSidebarNav]")
    nav.get_by_role("link", name="Synonyms").click()
    page.get_by_role("heading", name="Synonyms").wait_for()
    names_cell(page, 2, 0).wait_for(state="attached")
    assert (names_cell(page, 1, 0).text_content(), names_cell(page, 2, 0).text_content()) == ("dress", "dress")
    type_name(page, 0, "gown")

    nav.get_by_role("link", name="Run").click()
    repeats = page.get_by_role("spinbutton", name="Name orders (repeats)")
    repeats.fill("3")
    repeats.press("Enter")
    idle(page)
    assert link(page) == ws  # one link on every page

    page.reload()
    expect(page.get_by_role("spinbutton", name="Name orders (repeats)")).to_have_value("3")
    page.get_by_text("Dataset clothing: 713 images").wait_for()
    assert link(page) == ws

    # So far no page ran app.py (Streamlit runs a page alone until a session has opened Home): now Home
    # does, and from then on every page runs inside it.
    page.goto(f"{url}/?ws={ws}")
    page.get_by_text("kept on this server under this page's link").wait_for()
    nav.get_by_role("link", name="Run").click()
    page.get_by_text("Paper preset", exact=True).click()
    page.get_by_text("The paper preset runs its own names").wait_for()
    page.get_by_text("up to 12 names per class (the paper preset's)").wait_for()
    idle(page)
    page.reload()
    page.get_by_text("The paper preset runs its own names").wait_for()  # the protocol kept too
    expect(page.get_by_role("radio", name="Paper preset")).to_be_checked()
    nav.get_by_role("link", name="Synonyms").click()
    page.get_by_role("heading", name="Synonyms").wait_for()
    names_cell(page, 2, 0).wait_for(state="attached")
    assert (names_cell(page, 1, 0).text_content(), names_cell(page, 2, 0).text_content()) == ("dress", "gown")
    assert link(page) == ws
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.wait_for_timeout(1000)
    shot(page, "12-names-kept-after-reload")
