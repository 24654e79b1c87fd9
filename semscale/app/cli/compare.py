"""`compare`: two finished runs level by level, with a paired test."""

from __future__ import annotations

from semscale.app.cli import common
from semscale.core.errors import SemscaleError
from semscale.run import pasteable
from semscale.store.results import ResultsStore


def register(sub) -> None:
    cmp_ = common.command(sub, "compare",
                          help="two runs (two models, or two label sets) level by level, with a paired test")
    cmp_.add_argument("run_a", metavar="RUN_A")
    cmp_.add_argument("run_b", metavar="RUN_B")
    cmp_.set_defaults(func=cmd_compare, results_file="existing")


def cmd_compare(args, store: ResultsStore) -> int:
    from semscale.analysis.compare import compare_predictions, format_compare

    a, b = store.run(args.run_a), store.run(args.run_b)
    for info in (a, b):
        if info.partial:
            raise SemscaleError(f"run {info.run_id} is partial ({info.n_done} of {info.n_images} images); "
                                f"finish it first: {pasteable.command(args.results, 'resume', info.run_id)}")
    compared = compare_predictions(store.outcomes(a.run_id), store.outcomes(b.run_id),
                                   store.run_names(a.run_id), store.run_names(b.run_id))
    print(f"A = run {a.run_id} ({a.model_text()}), B = run {b.run_id} ({b.model_text()}), dataset {a.dataset}")
    print(format_compare(compared, "A", "B"))
    return 0
