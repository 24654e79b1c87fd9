"""The Synonyms page through Streamlit's AppTest, on the real clothing photos and WordNet files."""

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest


@pytest.fixture
def page(tmp_path, shared_datasets, monkeypatch):
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMSCALE_DATA_DIR", str(shared_datasets))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Synonyms.py"), default_timeout=60)
    at.session_state["dataset"] = "clothing"
    return at.run()


def button(at, start):
    return next(b for b in at.button if b.label.startswith(start))


def test_paper_scheme_uses_the_datasets_domain_word_and_keeps_plural_repeats(page):
    assert not page.exception
    assert page.text_input[0].value == "apparel"
    button(page, "Paper scheme").click().run()
    assert not page.exception
    labels = page.session_state["labels"]["clothing"]
    assert labels["pants"][:2] == ["pants", "pants"] and len(labels["pants"]) == 12
    assert labels["shirt"][8:10] == ["apparel shirt", "apparel shirts"]
    assert "up to 12 names each" in " ".join(c.value for c in page.caption)
    assert any("already plural" in i.value for i in page.info)
    senses = page.session_state["senses"]["clothing"]
    assert senses["dress"] == "dress.n.01" and page.session_state["display_names"]["clothing"]["t-shirt"] == "T-shirt"


def test_a_bad_domain_word_is_explained_next_to_the_field(page):
    page.text_input[0].input('{c} "flower"').run()
    assert any("braces" in e.value for e in page.error)


def test_a_picked_sense_and_an_edited_display_name_drive_the_next_generation(page):
    button(page, "WordNet synonyms").click().run()
    assert page.session_state["senses"]["clothing"]["pants"] == "trouser.n.01"
    assert "slacks" in page.session_state["labels"]["clothing"]["pants"]
    page.selectbox[0].select("pants").run()
    page.selectbox[1].select("bloomers.n.01").run()
    button(page, "WordNet synonyms").click().run()
    assert not page.exception
    pants = page.session_state["labels"]["clothing"]["pants"]
    # the trousers' kinds went with their sense (issue 24: the underwear's are rare or regional)
    assert "slacks" not in pants
    assert page.session_state["labels"]["clothing"]["shirt"][0] == "shirt"


def rows_of(page, cls):
    """The numbers of a class's rows in the page's name table."""
    return [i for i, row in enumerate(page.session_state["offered"]["clothing"]) if row["class"] == cls]


def edit(page, rows):
    page.session_state[f"editor_clothing_{page.session_state['labels_version']}"] = {
        "edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return page.run()


def test_editing_one_class_never_changes_another(page):
    button(page, "Paper scheme").click().run()
    before = {c: list(v) for c, v in page.session_state["labels"]["clothing"].items()}
    edit(page, {rows_of(page, "dress")[1]: {"name": "large hat"}, rows_of(page, "shirt")[2]: {"name": "polo"}})
    assert not page.exception
    after = page.session_state["labels"]["clothing"]
    assert after["hat"] == before["hat"]  # 'large hat' stays with hat
    assert any("'large hat' is already a name of 'hat'" in w.value for w in page.warning)
    for c in before:
        if c not in ("dress", "shirt"):
            assert after[c] == before[c], c
    assert page.session_state["relations"]["clothing"]["shirt"][:3] == ["name", "plural", "user"]  # 'polo' is typed


def test_each_name_shows_its_relation_and_gloss_and_only_ticked_names_are_kept(page):
    """Issue 24: one row per name with its relation and WordNet gloss; kinds are marked as not names of the
    class; a name ticked out leaves the label table (and its relation with it)."""
    button(page, "WordNet synonyms and kinds").click().run()
    offered = page.session_state["offered"]["clothing"]
    slacks = next(i for i in rows_of(page, "pants") if offered[i]["name"] == "slacks")
    assert offered[slacks]["relation"] == "kind" and offered[slacks]["same thing"].startswith("NO: a narrower kind")
    assert offered[slacks]["meaning"] == "(usually in the plural) pants for casual wear"
    assert offered[rows_of(page, "pants")[0]]["same thing"] == "yes"
    edit(page, {slacks: {"use": False}})
    assert not page.exception
    pants = page.session_state["labels"]["clothing"]["pants"]
    assert "slacks" not in pants and len(pants) == len(rows_of(page, "pants")) - 1
    kept = [offered[i]["relation"] for i in rows_of(page, "pants") if i != slacks]
    assert page.session_state["relations"]["clothing"]["pants"] == kept


def test_an_emptied_base_name_is_not_replaced_by_the_next_name_and_save_waits(page):
    button(page, "Paper scheme").click().run()
    first = next(iter(page.session_state["labels"]["clothing"]))
    before = list(page.session_state["labels"]["clothing"][first])
    relations = list(page.session_state["relations"]["clothing"][first])
    edit(page, {rows_of(page, first)[0]: {"name": ""}})  # its first row, relation 'name'
    assert not page.exception
    assert page.session_state["labels"]["clothing"][first] == before  # not its plural as the base name
    assert page.session_state["relations"]["clothing"][first] == relations
    assert [e.value for e in page.error] == [f"Class '{first}': its first row (its base name) is empty; fill it in. "
                                             "Until then the class keeps its names from before this edit, "
                                             "and Save waits."]
    assert next(b for b in page.get("download_button") if b.proto.label == "Save as YAML").proto.disabled


def test_a_yaml_load_says_what_it_dropped_and_filled_keeps_repeats_and_can_be_undone(page):
    button(page, "Paper scheme").click().run()
    paper = {c: list(v) for c, v in page.session_state["labels"]["clothing"].items()}
    paper_relations = {c: list(v) for c, v in page.session_state["relations"]["clothing"].items()}
    assert any("already plural" in i.value for i in page.info)
    text = "classes:\n  pants: [pants, pants, trousers]\n  hat: [hat, cap]\n  unicorn: [unicorn]\n"
    page.file_uploader[0].set_value(("mine.yaml", text.encode(), "text/yaml")).run()
    assert not page.exception
    labels = page.session_state["labels"]["clothing"]
    assert labels["pants"] == ["pants", "pants", "trousers"] and labels["hat"] == ["hat", "cap"]
    assert labels["dress"] == ["dress"]  # filled with its class name
    assert page.session_state["relations"]["clothing"]["pants"] == ["name", "user", "user"]  # the file gave none
    notes = [i.value for i in page.info]
    assert "Loaded mine.yaml: 10 classes, up to 3 names each." in notes
    assert "names for classes not in the dataset were ignored: unicorn" in notes
    assert "class 'dress' had no names in the label set; its class name is used" in notes
    assert any(n.startswith("Kept 1 exact repeat of an earlier name") for n in notes)
    assert not any("already plural" in n for n in notes)  # the paper scheme's notes went with its table
    page.run()  # the editor keeps the repeat too
    assert page.session_state["labels"]["clothing"]["pants"] == ["pants", "pants", "trousers"]

    button(page, "Restore the previous names").click().run()
    assert page.session_state["labels"]["clothing"] == paper
    assert page.session_state["relations"]["clothing"] == paper_relations
    assert page.session_state["relations"]["clothing"]["pants"][:2] == ["name", "plural"]
    assert any("already plural" in i.value for i in page.info)
    button(page, "Restore the previous names").click().run()  # and back
    assert page.session_state["labels"]["clothing"]["hat"] == ["hat", "cap"]
