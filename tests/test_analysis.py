"""Per-class accuracy and the confusion matrix on a frame whose answers are counted by hand."""

import pandas as pd

from semscale import analysis

# Five images at one level (max, 1 name, repeat 0), (true, predicted):
#   cat->cat, cat->cat, cat->dog, dog->dog, bird->dog
# Per true class (recall): bird 0/1, cat 2/3, dog 1/1.
# Per predicted class (precision, the wrong table): cat 2/2, dog 1/3 -- the two differ everywhere.
PAIRS = [("cat", "cat"), ("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("bird", "dog")]
PREDICTIONS = pd.DataFrame([{"aggregation": "max", "repeat": 0, "n_names": 1, "image_idx": i, "label": t,
                             "predicted": p, "correct": t == p} for i, (t, p) in enumerate(PAIRS)])


def test_per_class_accuracy_is_each_true_class_recall():
    """Grouped by the true label: the share of each class's images predicted as that class."""
    table = analysis.per_class(PREDICTIONS).set_index("label")
    assert table["accuracy"].to_dict() == {"bird": 0.0, "cat": 2 / 3, "dog": 1.0}
    assert table["images"].to_dict() == {"bird": 1, "cat": 3, "dog": 1}


def test_confusion_rows_are_true_classes_and_columns_predictions():
    """Row 'cat' holds the three cat images: two predicted cat, one dog; nothing was predicted bird."""
    table = analysis.confusion(PREDICTIONS, "max", 1)
    assert (table.index.name, table.columns.name) == ("true", "predicted")
    assert table.to_dict("index") == {"bird": {"bird": 0, "cat": 0, "dog": 1},
                                      "cat": {"bird": 0, "cat": 2, "dog": 1},
                                      "dog": {"bird": 0, "cat": 0, "dog": 1}}
