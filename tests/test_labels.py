"""Label sets: cleaning rules, files, schedules and the name generators."""

import pytest

from semscale.core.errors import SemscaleError
from semscale.names import synonyms
from semscale.names.labels import LabelSet, as_left, emptied_bases, name_rows, ticked
from semscale.run import schedule


def test_clean_drops_empty_duplicate_and_overlong_names_with_a_warning_each():
    ls = LabelSet.clean({"dog": ["dog", "", "  Dog ", "puppy", "x" * 5000, None],
                         "golden_retriever": ["golden_retriever"]})
    assert ls.names == {"dog": ["dog", "puppy"], "golden retriever": ["golden retriever"]}
    text = " | ".join(ls.warnings)
    assert "empty name #2" in text and "duplicate name 'Dog'" in text and "5000 characters" in text


def test_a_class_without_a_name_is_skipped_and_one_named_twice_merged_with_odd_spacing_collapsed():
    """An empty class name is skipped (the classes after it still read); ' Dog ' is 'dog' again, so its names
    join dog's ('Dog' then a duplicate); runs of blanks, tabs and underscores become one space."""
    ls = LabelSet.clean({"dog": ["dog", "puppy"], "": ["ghost"], " Dog ": ["Dog", "hound"],
                         "big\t  cat": ["big   cat", "large_cat"]})
    assert ls.names == {"dog": ["dog", "puppy", "hound"], "big cat": ["big cat", "large cat"]}
    assert ls.warnings == ("a class with an empty name was ignored",
                           "class 'Dog' repeats class 'dog'; its names were merged",
                           "class 'dog': duplicate name 'Dog' was dropped")


def test_each_kept_name_takes_the_relation_given_at_its_own_place_among_repeats():
    """Kept repeats (the paper scheme's tables) read their relations in order: 'PANTS' (a case variant) is
    dropped and the second 'pants' is still the plural; the second 'hat' is the user's, not a synonym."""
    ls = LabelSet.clean({"pants": ["pants", "PANTS", "pants", "large pants"], "cap": ["cap", "hat", "hat"]},
                        keep_repeats=True, relations={"pants": ["name", "user", "plural", "modifier"],
                                                      "cap": ["name", "synonym", "user"]})
    assert ls.names == {"pants": ["pants", "pants", "large pants"], "cap": ["cap", "hat", "hat"]}
    assert ls.relations == {"pants": ["name", "plural", "modifier"], "cap": ["name", "synonym", "user"]}


def test_a_shared_name_stays_with_the_class_where_it_comes_first():
    ls = LabelSet.clean({"shirt": ["shirt", "top", "tee"], "t-shirt": ["t-shirt", "tee"], "blouse": ["blouse", "top"]})
    assert ls.names["shirt"] == ["shirt", "top"]  # 'tee' is 2nd for t-shirt, 3rd for shirt
    assert ls.names["t-shirt"] == ["t-shirt", "tee"]
    assert ls.names["blouse"] == ["blouse"]  # 'top' ties at position 2: earlier class wins
    assert any("'tee'" in w and "'t-shirt'" in w for w in ls.warnings)
    # The decision does not depend on dictionary order.
    flipped = LabelSet.clean({"t-shirt": ["t-shirt", "tee"], "shirt": ["shirt", "top", "tee"]})
    assert flipped.names["t-shirt"] == ["t-shirt", "tee"] and flipped.names["shirt"] == ["shirt", "top"]


def test_a_class_whose_only_name_belongs_elsewhere_is_an_error():
    with pytest.raises(SemscaleError, match="class 'b' has no usable name"):
        LabelSet.clean({"a": ["car"], "b": ["", "car"]})


def test_unicode_quotes_and_sql_look_alikes_survive_a_file_round_trip(tmp_path):
    raw = {"café": ["café", "naïve \"quoted\" name", "x'; DROP TABLE runs; --"], "猫": ["猫", "ねこ"]}
    ls = LabelSet.clean(raw)
    for suffix in ("yaml", "json"):
        path = tmp_path / f"labels.{suffix}"
        ls.save(path)
        assert LabelSet.load(path).names == ls.names



def test_a_saved_label_file_is_what_its_suffix_says_readable_and_in_class_order(tmp_path):
    """A user opens and edits the saved file: .json is JSON, .yaml YAML, accents written as they are, and the
    classes in the set's order (not sorted)."""
    import json

    import yaml

    ls = LabelSet.clean({"zèbre": ["zèbre", "zèbres"], "ant": ["ant"]})
    ls.save(tmp_path / "l.json")
    ls.save(tmp_path / "l.yaml")
    as_json, as_yaml = ((tmp_path / f"l.{s}").read_text(encoding="utf-8") for s in ("json", "yaml"))
    assert json.loads(as_json)["classes"] == {"zèbre": ["zèbre", "zèbres"], "ant": ["ant"]}
    assert not as_yaml.lstrip().startswith("{") and yaml.safe_load(as_yaml)["classes"]["ant"] == ["ant"]
    assert "zèbres" in as_json and "zèbres" in as_yaml
    assert as_yaml.index("zèbre") < as_yaml.index("ant")
    assert list(LabelSet.load(tmp_path / "l.yaml").names) == ["zèbre", "ant"]



def test_a_label_file_at_the_size_cap_is_read_whole_and_one_byte_past_it_refused(tmp_path):
    """A file of exactly MAX_LABEL_BYTES keeps its last name (nothing cut off); one byte more is refused."""
    from semscale.names.labels import MAX_LABEL_BYTES

    names = "dog: [dog, puppy]"  # no newline after it: a byte cut off would break the list
    at, past = tmp_path / "at.yaml", tmp_path / "past.yaml"
    at.write_text("#" * (MAX_LABEL_BYTES - len(names) - 1) + "\n" + names, encoding="utf-8")
    past.write_text("#" * (MAX_LABEL_BYTES - len(names)) + "\n" + names, encoding="utf-8")
    assert at.stat().st_size == MAX_LABEL_BYTES and past.stat().st_size == MAX_LABEL_BYTES + 1
    assert LabelSet.load(at).names == {"dog": ["dog", "puppy"]}
    with pytest.raises(SemscaleError, match=r"^label file \S+past\.yaml is larger than 1 MB"):
        LabelSet.load(past)


def test_a_label_text_of_exactly_max_label_nodes_is_read_and_one_node_more_or_an_alias_refused():
    """The node cap counts every scalar and collection: a mapping, its key, the list and its names."""
    from semscale.names.labels import MAX_LABEL_NODES

    def text(n_names: int) -> str:
        return "dog: [" + ", ".join(f"n{i}" for i in range(n_names)) + "]"

    assert len(LabelSet.parse(text(MAX_LABEL_NODES - 3)).names["dog"]) == MAX_LABEL_NODES - 3
    with pytest.raises(SemscaleError, match="more than 50,000 YAML nodes; a label set needs far fewer"):
        LabelSet.parse(text(MAX_LABEL_NODES - 2))
    with pytest.raises(SemscaleError, match=r"^label file uses a YAML alias \(\*x\) at line 2; write the names out"):
        LabelSet.parse("a: &x [dog]\nb: *x\n")

def test_aligning_to_a_dataset_fills_missing_classes_and_ignores_unknown_ones():
    ls = LabelSet.clean({"Cat": ["cat", "kitty"], "zebra": ["zebra"], "emu": ["emu"]}, classes=["cat", "dog"])
    assert ls.names == {"cat": ["cat", "kitty"], "dog": ["dog"]}
    # 'Cat' is the dataset's 'cat' (case aside): only the two classes the dataset lacks are named as ignored
    assert ls.warnings == ("class 'dog' had no names in the label set; its class name is used",
                           "names for classes not in the dataset were ignored: zebra, emu")


def test_bad_label_files_get_one_clear_sentence(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dog: [dog, puppy\ncat: cat\n")
    with pytest.raises(SemscaleError, match=r"^label file \S+bad\.yaml is not valid YAML"):
        LabelSet.load(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SemscaleError, match="must map each class"):
        LabelSet.load(bad)
    with pytest.raises(SemscaleError, match="does not exist"):
        LabelSet.load(tmp_path / "missing.yaml")
    with pytest.raises(SemscaleError, match="is a folder; name a YAML or JSON file"):
        LabelSet.load(tmp_path)
    bad.write_bytes("dog: [chien, bébé]".encode("latin-1"))
    with pytest.raises(SemscaleError, match="bad.yaml is not UTF-8 text"):
        LabelSet.load(bad)


def test_a_refused_label_text_names_its_source_and_the_line_yaml_stopped_at():
    """Whole sentences, as the Synonyms page's upload shows them: the line is YAML's (0-based) mark + 1; a
    character YAML's reader refuses has no mark, so no line; the size cap, a relation count and a list among
    the names each name the text's source."""
    def refusal(text: str) -> str:
        with pytest.raises(SemscaleError) as err:
            LabelSet.parse(text, source="upload.yaml")
        return str(err.value)

    assert refusal("dog: [dog, puppy\ncat: cat\n") == "upload.yaml is not valid YAML/JSON at line 2"
    assert refusal("classes:\n  dog: [dog]\n  cat: [cat, \"kitty\n") == "upload.yaml is not valid YAML/JSON at line 4"
    assert refusal("dog: [dog\x07]") == "upload.yaml is not valid YAML/JSON"
    assert refusal("dog: [" + "x" * (1 << 20) + "]") == "upload.yaml is larger than 1 MB; a label set needs far less"
    assert refusal("classes:\n  dog: [dog, puppy]\nrelations:\n  dog: [name]\n") == (
        "upload.yaml: class 'dog' needs one relation per name under 'relations'")
    assert refusal("red: [red, [crimson, scarlet]]\n") == (
        "upload.yaml: class 'red' has a list or mapping among its names; each name must be plain text")


@pytest.mark.parametrize("spec,max_names,expected", [
    ("exponential", 8, [1, 2, 4, 8]),
    ("exponential", 6, [1, 2, 4, 6]),
    ("exponential", 1, [1]),
    ("linear", 4, [1, 2, 3, 4]),
    ("linear:2", 6, [1, 3, 5, 6]),
    ("1, 3, 99", 6, [1, 3, 6]),
    ("exp", 2, [1, 2]),
    ("exponential", 3, [1, 2, 3]),
    ("linear:2", 5, [1, 3, 5]),  # the last level is not measured twice
    ("linear:1", 1, [1]),
    (" Linear:3 ", 3, [1, 3]),
    ("4,2,,2", 9, [2, 4]),  # sorted, each level once
    ("7,8", 6, [6]),
])
def test_schedules(spec, max_names, expected):
    assert schedule.parse(spec, max_names) == expected


def test_bad_schedule_is_explained():
    with pytest.raises(SemscaleError, match="bad schedule"):
        schedule.parse("sometimes", 4)
    for spec, message in (("linear:x", "bad linear step"), ("linear:0", "step must be >= 1, got 0"),
                          ("0,2", r"levels must be >= 1, got \[0\]"), (",", "at least one level")):
        with pytest.raises(SemscaleError, match=message):
            schedule.parse(spec, 4)
    with pytest.raises(SemscaleError, match="at least one name"):
        schedule.parse("exponential", 0)
    with pytest.raises(SemscaleError, match="unknown schedule 'weekly'"):
        schedule.levels("weekly", 4)


def test_a_cut_note_names_the_levels_above_the_longest_list():
    assert schedule.cut_note("1,8,9", 6) == "levels 8, 9 were cut to 6: the longest name list has 6 names"
    assert schedule.cut_note("9, 1,", 1) == "level 9 was cut to 1: the longest name list has 1 name"
    assert schedule.cut_note("1,6", 6) is None and schedule.cut_note("exponential", 6) is None


def test_generated_repeats_are_kept_only_when_asked_and_only_exact():
    raw = {"pants": ["pants", "pants", "Pants ", "large pants", "large pants"]}
    assert LabelSet.clean(raw).names["pants"] == ["pants", "large pants"]
    kept = LabelSet.clean(raw, keep_repeats=True)
    assert kept.names["pants"] == ["pants", "pants", "large pants", "large pants"]
    assert any("duplicate name 'Pants'" in w for w in kept.warnings)  # a case variant is still a user's slip


def test_an_edit_never_takes_a_name_from_another_class():
    before = {"cat": ["cat", "cats", "kitty"], "dog": ["dog", "dogs"]}
    after = LabelSet.edited(before, {"cat": ["cat", "cats", "kitty"], "dog": ["dog", "kitty", "puppy"]}, ["cat", "dog"])
    assert after.names == {"cat": ["cat", "cats", "kitty"], "dog": ["dog", "puppy"]}
    assert any("'kitty' is already a name of 'cat'" in w for w in after.warnings)
    # a class the earlier table lacked is a changed row too; an exact repeat is dropped unless asked for
    grown = LabelSet.edited(before, {**before, "owl": ["owl", "cats", "owl", "hooter"]}, ["cat", "dog", "owl"])
    assert grown.names["owl"] == ["owl", "hooter"]
    assert any("'cats' is already a name of 'cat'" in w for w in grown.warnings)
    paper = LabelSet.edited(before, {**before, "owl": ["owl", "owl", "owls"]}, ["cat", "dog", "owl"], keep_repeats=True)
    assert paper.names["owl"] == ["owl", "owl", "owls"]
    # the dataset's classes decide the rows: one missing gets its own name, one not in the dataset is ignored
    aligned = LabelSet.edited(before, {"cat": before["cat"], "emu": ["emu"]}, ["cat", "dog"])
    assert aligned.names == {"cat": ["cat", "cats", "kitty"], "dog": ["dog"]}



def test_an_edited_row_keeps_each_kept_names_relation_and_an_unchanged_row_its_own():
    """The Synonyms page's relations (its "same thing" column, the runs' name records) survive an edit: in the
    changed row a name taken from another class is dropped with its relation, the others keep theirs in order."""
    before = {"dog": ["dog", "puppy"], "cat": ["cat", "kitty"]}
    raw = {"dog": ["dog", "kitty", "puppy", "hound"], "cat": ["cat", "kitty"]}
    relations = {"dog": ["name", "synonym", "synonym", "user"], "cat": ["name", "plural"]}
    after = LabelSet.edited(before, raw, ["dog", "cat"], relations=relations)
    assert after.names == {"dog": ["dog", "puppy", "hound"], "cat": ["cat", "kitty"]}
    assert after.relations == {"dog": ["name", "synonym", "user"], "cat": ["name", "plural"]}

# --- the Synonyms page's editor: the rows it offers, the names a user's edits give, the table offered again -----

PET = LabelSet.clean({"cat": ["cat", "kitty", "tabby", "feline"], "dog": ["dog", "dogs", "large dog", "puppy"]},
                     relations={"cat": ["name", "synonym", "kind", "broader"],
                                "dog": ["name", "plural", "modifier", "user"]})


def edit(offered: list[dict], changes: dict[int, dict]) -> dict[int, dict]:
    """The editor's rows (row number -> row) after `changes`; a row number past the offered ones is new."""
    return {i: {**(offered[i] if i < len(offered) else {}), **changes.get(i, {})}
            for i in sorted(set(range(len(offered))) | set(changes))}


def test_the_editor_rows_say_which_names_name_the_same_thing():
    """Each relation's "same thing" cell: the four kinds of names of the class say yes, a kind or a category
    says NO with the first clause of its description (before ': not a name'), a user's name is unknown."""
    rows = name_rows(PET, {"cat": {"tabby": "a cat with a striped coat"}})
    assert [(r["class"], r["name"], r["relation"], r["same thing"], r["meaning"], r["use"]) for r in rows] == [
        ("cat", "cat", "name", "yes", "", True), ("cat", "kitty", "synonym", "yes", "", True),
        ("cat", "tabby", "kind", "NO: a narrower kind (subtype) that fits only some photos",
         "a cat with a striped coat", True),
        ("cat", "feline", "broader", "NO: an everyday category that fits every photo of the class", "", True),
        ("dog", "dog", "name", "yes", "", True), ("dog", "dogs", "plural", "yes", "", True),
        ("dog", "large dog", "modifier", "yes", "", True), ("dog", "puppy", "user", "unknown", "", True)]
    assert all(list(r) == ["class", "name", "relation", "same thing", "meaning", "use"] for r in rows)


def test_an_emptied_base_name_keeps_its_class_as_it_was_and_other_edits_count():
    """dog's base (row 4, not the table's first row) emptied to blanks: dog keeps PET's names and relations
    though its other rows changed ('dogs' -> 'doggy' still ticked); cat's edits count: row 1 typed (its
    relation becomes `user`), row 2 emptied (no name, no warning), row 3 ticked out; a new row 8."""
    offered = name_rows(PET)
    rows = edit(offered, {4: {"name": "  "}, 5: {"name": "doggy"}, 1: {"name": "kitten"}, 2: {"name": None},
                          3: {"use": False}, 8: {"class": "cat", "name": "kitty", "use": True}})
    assert emptied_bases(rows, offered) == ["dog"]
    got = ticked(rows, offered, ["cat", "dog"], current=PET)
    assert got.names == {"cat": ["cat", "kitten", "kitty"], "dog": ["dog", "dogs", "large dog", "puppy"]}
    assert got.relations == {"cat": ["name", "user", "user"], "dog": ["name", "plural", "modifier", "user"]}
    assert got.warnings == ()
    # a base row deleted or ticked out is left out on purpose: not an emptied base
    assert emptied_bases({i: r for i, r in rows.items() if i != 4}, offered) == []
    assert emptied_bases(edit(offered, {0: {"use": False}}), offered) == []


def test_ticked_rows_never_take_a_name_from_another_class_and_follow_the_datasets_classes():
    """'kitty' typed into a dog row stays cat's (LabelSet.edited, against the offered table); an exact repeat
    goes unless the set keeps repeats; a dataset class no row names gets its own name; no `current` needed."""
    offered = name_rows(PET)
    rows = edit(offered, {6: {"name": "kitty"}, 8: {"class": "dog", "name": "dogs", "use": True}})
    got = ticked(rows, offered, ["cat", "dog", "owl"])
    assert got.names == {"cat": ["cat", "kitty", "tabby", "feline"], "dog": ["dog", "dogs", "puppy"], "owl": ["owl"]}
    assert got.relations["dog"] == ["name", "plural", "user"]
    assert "class 'dog': 'kitty' is already a name of 'cat'; not added" in got.warnings
    kept = ticked(rows, offered, ["cat", "dog"], keep_repeats=True)
    assert kept.names["dog"] == ["dog", "dogs", "puppy", "dogs"] and "owl" not in kept.names


def test_the_table_offered_again_keeps_user_rows_and_leaves_out_a_new_row_without_a_name():
    """A typed row is the user's, whole; a cell holding anything but text (a NaN a table may hold for an
    emptied cell) comes back as None, which the workspace stores; a new row without a name, even the first
    one past the offered rows, is left out."""
    offered = name_rows(PET)
    rows = edit(offered, {1: {"name": "kitten"}, 2: {"name": float("nan")},
                          8: {"class": "cat", "name": None, "use": True}, 9: {"class": "dog", "name": "hound"}})
    left = as_left(rows, offered)
    assert len(left) == 9 and left[2]["name"] is None and left[3] == offered[3]
    user = {"relation": "user", "same thing": "unknown", "meaning": "", "use": True}
    assert left[1] == {"class": "cat", "name": "kitten", **user}
    assert left[8] == {"class": "dog", "name": "hound", **user, "use": False}


def test_a_name_order_moves_only_the_extra_names():
    """`reordered` (a run's shuffled name orders): the base name stays first, order[c] indexes the extras."""
    ls = LabelSet.clean({"cat": ["cat", "kitty", "tabby", "feline"], "dog": ["dog", "puppy"]})
    assert ls.reordered({"cat": [2, 0, 1], "dog": [0]}).names == {"cat": ["cat", "feline", "kitty", "tabby"],
                                                                  "dog": ["dog", "puppy"]}


def test_wordnet_synonyms_come_from_the_installed_database():
    ls = synonyms.generate(["airplane", "automobile"], "wordnet").labels
    assert ls.names["airplane"][:3] == ["airplane", "aeroplane", "plane"]
    assert "car" in ls.names["automobile"] and "motorcar" not in ls.names["automobile"]  # rare (issue 24)


def test_a_loaded_paper_table_keeps_its_repeats_in_the_run(designed_runs):
    """A saved paper-scheme file ('ant', 'ant') loaded back: the table, and the run built from it, keep the repeat."""
    from semscale.run import runs

    text = "classes: {ant: [ant, ant, apple], bee: [bee], cat: [cat]}"
    loaded = LabelSet.parse(text, ["ant", "bee", "cat"], keep_repeats=True)
    assert loaded.names["ant"] == ["ant", "ant", "apple"] and loaded.repeats == 1
    assert LabelSet.parse(text).names["ant"] == ["ant", "apple"]  # the CLI's --labels: a user's slip
    config, _ = runs.build(str(designed_runs.images), ["ant", "bee", "cat"], labels=loaded.names,
                           record=runs.NameRecord(keep_repeats=True), schedule="1,2,3")
    run_id = designed_runs.run(config.labels, keep_repeats=config.keep_repeats)
    assert designed_runs.store.run_names(run_id)["ant"] == ["ant", "ant", "apple"]


def test_relations_in_a_label_file_stay_with_their_names(tmp_path):
    """Issue 24: a `relations:` section beside `classes:`; a dropped duplicate never shifts the others."""
    path = tmp_path / "l.yaml"
    path.write_text("classes:\n  dog: [dog, dogs, Dogs, puppy]\n  cat: [cat]\n"
                    "relations:\n  dog: [name, plural, plural, synonym]\n  cat: [name]\n", encoding="utf-8")
    loaded = LabelSet.load(path, ["dog", "cat", "bird"])
    assert loaded.names["dog"] == ["dog", "dogs", "puppy"]
    assert loaded.relations == {"dog": ["name", "plural", "synonym"], "cat": ["name"], "bird": ["name"]}
    loaded.save(tmp_path / "again.yaml")
    assert LabelSet.load(tmp_path / "again.yaml").relations == loaded.relations


def test_a_label_file_without_relations_holds_the_users_names():
    plain = LabelSet.parse("dog: [dog, puppy, hound]")
    assert plain.relations == {"dog": ["name", "user", "user"]}
    single = LabelSet.parse("classes:\n  dog: hound\nrelations:\n  dog: synonym\n")  # one name, no list
    assert single.names == {"dog": ["hound"]} and single.relations == {"dog": ["synonym"]}


@pytest.mark.parametrize("relations, words", [("dog: [name]", "class 'dog' needs one relation per name"),
                                              ("cat: [name]", "class 'cat' needs one relation per name"),
                                              ("dog: [name, cousin]",
                                               "class 'dog' has the relation 'cousin'; use one of name, plural"),
                                              ("[name, plural]", "must map each class")])
def test_bad_relations_get_one_clear_sentence(relations, words):
    with pytest.raises(SemscaleError, match=words):
        LabelSet.parse(f"classes:\n  dog: [dog, puppy]\nrelations:\n  {relations}\n")


def test_generated_names_carry_their_relations_into_the_file(tmp_path):
    made = synonyms.generate(["rose", "tulip"], "paper", domain="flower")
    assert made.labels.relations["rose"][:4] == ["name", "plural", "modifier", "modifier"]
    made.labels.save(tmp_path / "p.yaml")
    assert LabelSet.load(tmp_path / "p.yaml").relations == made.labels.relations


def test_a_name_of_exactly_the_limit_is_kept_and_one_character_more_is_dropped():
    """Killed mutation (mutmut, `_add_names`): `>=` for `>` dropped a name of exactly MAX_NAME_CHARS."""
    from semscale.names.labels import MAX_NAME_CHARS

    at, over = "a" * MAX_NAME_CHARS, "b" * (MAX_NAME_CHARS + 1)
    made = LabelSet.clean({"cat": ["cat", at, over]})
    assert made.names["cat"] == ["cat", at]
    assert made.warnings == (f"class 'cat': a name of {MAX_NAME_CHARS + 1} characters was dropped "
                             f"(limit {MAX_NAME_CHARS}): '{'b' * 40}...'",)


def test_a_label_set_without_classes_is_refused_in_words():
    """Killed mutations (mutmut, `clean`): the refusal's text lost, upper-cased or wrapped."""
    with pytest.raises(SemscaleError) as refused:
        LabelSet.clean({})
    assert str(refused.value) == "the label set has no classes"
