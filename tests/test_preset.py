"""The `paper` preset: the authors' protocol end to end (CLI, engine, Run page), and its image preparation."""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from semscale.core.vectors import normalize
from semscale.data.images import content_hash, decode, prepare, prepared_hash
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

FLOWER_FOLDERS = {"ROSES": (220, 30, 60), "tulip": (240, 200, 20), "DAISIES": (250, 250, 250),
                  "sunflower": (250, 170, 0)}
ROSE_NAMES = ["rose", "roses", "large rose", "large roses", "small rose", "small roses", "medium rose",
              "medium roses", "Flower rose", "Flower roses", "tiny rose", "tiny roses"]


def semscale(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "semscale", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def flowers(tmp_path):
    """Folders named as people name them (ALL-CAPS plurals among them), flat-colour photos inside."""
    root = tmp_path / "flowers"
    for folder, rgb in FLOWER_FOLDERS.items():
        (root / folder).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40 + i, 30), rgb).save(root / folder / f"{i}.png")
    return root


def test_paper_preset_runs_the_authors_protocol_and_says_so(tmp_path, flowers, model_dir):
    db = tmp_path / "r.duckdb"
    out = semscale("--results", db, "run", "--preset", "paper", "--dataset", flowers, "--domain", "Flower",
                   "--local", model_dir)
    assert out.returncode == 0, out.stderr
    store = ResultsStore(db)
    info = store.runs()[0]
    cfg = info.config
    assert (cfg["preset"], cfg["scheme"], cfg["schedule"], cfg["templates"], cfg["aggregations"], cfg["repeats"],
            cfg["image_prep"], cfg["domain"]) == ("paper", "paper", "linear", [], ["max"], 1, "paper", "Flower")
    assert cfg["class_names"]["ROSES"] == "rose" and cfg["class_names"]["DAISIES"] == "daisy"
    assert cfg["decode"] == "exact"  # every pixel decoded, as the authors' tool did
    names = store.run_names(info.run_id)
    assert names["ROSES"] == ROSE_NAMES  # the folder stays the class key; C is the natural name
    assert all(len(v) == 12 for v in names.values())
    assert sorted(store.points(info.run_id)["n_names"]) == list(range(1, 13))  # k = 1, 2, 3 ... 12
    for line in ("prompt template: none (raw names) - as in the paper", "schedule: linear - as in the paper",
                 "aggregation: max (as in the paper)", "squashed to 224x224"):
        assert line in out.stdout, out.stdout
    report = semscale("--results", db, "report", info.run_id, "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr
    assert "- names: paper (domain word: Flower) - as in the paper" in (tmp_path / "report" / "report.md").read_text()


def test_the_preset_refuses_settings_it_fixes_and_labels_extensions(tmp_path, flowers, model_dir):
    db = tmp_path / "r.duckdb"
    for extra, named in ((["--schedule", "exponential"], "--schedule exponential"),
                         (["--template", "a photo of a {}."], "--template"), (["--repeats", "3"], "--repeats 3")):
        out = semscale("--results", db, "run", "--preset", "paper", "--dataset", flowers, "--local", model_dir, *extra)
        assert out.returncode == 2 and named in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not ResultsStore(db).runs()  # refused before anything was registered
    out = semscale("--results", db, "run", "--preset", "paper", "--dataset", flowers, "--local", model_dir,
                   "--aggregation", "probsum")
    assert out.returncode == 0, out.stderr
    assert ResultsStore(db).runs()[0].config["aggregations"] == ["max", "probsum"]
    assert "aggregation: max (as in the paper), probsum (semscale extension)" in out.stdout
    bad = semscale("--results", db, "run", "--preset", "paper", "--dataset", flowers, "--domain", "{x}")
    assert bad.returncode == 2 and "braces" in bad.stderr and "Traceback" not in bad.stderr


def test_paper_image_preparation_is_what_the_model_sees_and_has_its_own_cache_key(tmp_path, results, encoder):
    """A wide image of three colour bands: CLIP's centre crop sees the middle band only, the paper's
    224 x 224 squash sees all three, so the two preparations must give different embeddings."""
    folder = tmp_path / "bands" / "stripes"
    folder.mkdir(parents=True)
    pixels = np.zeros((32, 96, 3), np.uint8)
    pixels[:, :32], pixels[:, 32:64], pixels[:, 64:] = (220, 20, 20), (20, 160, 20), (20, 20, 220)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    (folder / "wide.png").write_bytes(buf.getvalue())
    data = buf.getvalue()
    (tmp_path / "bands" / "zigzag").mkdir()  # a second class (a data set needs two), listed after the first
    Image.fromarray(pixels[:, :32]).save(tmp_path / "bands" / "zigzag" / "square.png")
    runs = {prep: Engine(results, encoder).run(RunConfig(dataset=str(tmp_path / "bands"), image_prep=prep))
            for prep in ("clip", "paper")}
    stored = {prep: results.image_hashes(run_id)[0] for prep, run_id in runs.items()}
    assert stored == {"clip": content_hash(data), "paper": prepared_hash(content_hash(data), "paper")}
    cached = results.get_embeddings(encoder.model_id, list(stored.values()))
    squashed = encoder.encode_images([prepare(decode(data), "paper")])[0]
    np.testing.assert_allclose(cached[stored["paper"]], squashed, rtol=1e-5, atol=1e-6)
    cosine = float(normalize(cached[stored["clip"]]) @ normalize(cached[stored["paper"]]))
    assert cosine < 0.99, cosine


def test_run_page_paper_preset_is_one_click(dashboard_env):
    from streamlit.testing.v1 import AppTest

    tmp_path = dashboard_env
    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    at.session_state["dataset"] = "clothing"
    at.run()
    at.radio(key="protocol").set_value("Paper preset").run()
    assert not at.exception
    assert at.session_state["labels"]["clothing"]["dress"] == ["dress"]  # the user's names: untouched
    assert any("up to 12 names per class (the paper preset's)" in c.value for c in at.caption)
    assert "Domain word D: 'apparel', as given." in [i.value for i in at.info]  # issue 24: shown before the run
    assert "Levels: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12" in [c.value for c in at.caption]
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    run_id = at.session_state["watch_run"]
    config = json.loads((tmp_path / "home" / "jobs" / f"{run_id}.json").read_text())
    assert (config["preset"], config["schedule"], config["templates"], config["aggregations"], config["image_prep"],
            config["scheme"], config["domain"]) == ("paper", "linear", [], ["max"], "paper", "paper", "apparel")
    assert config["labels"]["dress"] == ["dress", "dresses", "large dress", "large dresses", "small dress",
                                         "small dresses", "medium dress", "medium dresses", "apparel dress",
                                         "apparel dresses", "tiny dress", "tiny dresses"]
    store = ResultsStore(tmp_path / "dash.duckdb")
    deadline = time.monotonic() + 120
    while not (store.runs() and store.run(run_id).status in ("done", "failed")):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    info = store.run(run_id)
    assert info.status == "done", info.error
    assert info.n_rejected == 0  # notes on names are not files left out
    assert "WordNet does not know 'longsleeve': its names are built from the name alone" in store.notes(run_id)


def test_the_cli_and_the_run_page_build_the_same_run_for_the_same_choices(dashboard_env, flowers, model_dir,
                                                                       monkeypatch):
    """The paper preset on a folder, domain word Flower, probsum beside max: chosen on the Run page and on
    the command line, one builder (semscale.run.runs) makes the same config, names and their record included."""
    from streamlit.testing.v1 import AppTest

    spec = str(flowers)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(flowers.parent))  # a folder the dashboard may read
    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    at.session_state["dataset"] = spec
    at.session_state["domain"] = {spec: "Flower"}
    at.run()
    at.radio(key="protocol").set_value("Paper preset").run()
    at.multiselect[0].set_value(["probsum"]).run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    page = json.loads((dashboard_env / "home" / "jobs" / f"{at.session_state['watch_run']}.json").read_text())
    db = dashboard_env / "cli.duckdb"
    out = semscale("--results", db, "run", "--preset", "paper", "--dataset", flowers, "--domain", "Flower",
                   "--aggregation", "probsum", "--local", model_dir)
    assert out.returncode == 0, out.stderr
    cli = ResultsStore(db).runs()[0].config
    assert page["labels"]["ROSES"] == ROSE_NAMES
    assert {k: v for k, v in page.items() if k != "backend"} == {k: v for k, v in cli.items() if k != "backend"}


def test_a_preset_with_your_own_names_records_them_as_yours():
    from semscale.run import runs

    config, notes = runs.build("flowers", ["rose", "tulip"], preset="paper", labels={"rose": ["rose", "roses"],
                                                                                     "tulip": ["tulip"]})
    assert (config.preset, config.scheme, config.schedule) == ("paper", None, "linear")
    assert notes == ["the names come from your label set, not the paper preset's scheme"]
    with pytest.raises(Exception, match="fixes these settings"):
        runs.build("flowers", ["rose"], preset="paper", schedule="exponential")
    _, alone = runs.build("flowers", ["rose", "tulip"], labels={"rose": ["rose"], "tulip": ["tulip"]})
    assert alone == [runs.ONE_NAME_NOTE]


def test_the_domain_word_and_its_reason_are_among_the_notes_before_a_run():
    """Issue 24: D is shown, with why it was chosen, before the run (CLI `note:` lines, the Run page)."""
    from semscale.run import runs

    config, notes = runs.build("my-food-folder", ["hamburger", "pizza", "ice cream", "french fries"], scheme="paper")
    assert config.domain == "food" and notes[0].startswith("domain word D: 'food', ")
    _, none = runs.build("my-things", ["hamburger", "bicycle"], scheme="paper")
    assert none[0].startswith("no domain word: ")
    record = runs.NameRecord(scheme="paper", domain="food", domain_note="domain word D: 'food', as given")
    _, kept = runs.build("my-food-folder", ["pizza"], labels={"pizza": ["pizza", "pizzas"]}, record=record)
    assert kept == ["domain word D: 'food', as given"]
