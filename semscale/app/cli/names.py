"""The commands about a run's names: write a generated label set (`labels`), which names help and
which hurt (`names`), choose names by cross-validation (`recommend`), one image level by level (`explain`)."""

from __future__ import annotations

import sys

from semscale.app.cli import common
from semscale.core.wording import count
from semscale.data import datasets
from semscale.names import synonyms
from semscale.run import aggregations, pasteable, runs
from semscale.store.results import ResultsStore


def register(sub) -> None:
    """names, recommend, explain (each reads a run) and labels (reads a dataset)."""
    nam = common.command(sub, "names", help="which names help and which hurt: each name added alone and removed")
    nam.add_argument("run_id")
    nam.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")
    nam.add_argument("--flips", nargs=2, metavar=("CLASS", "NAME"), help="list the images this name flips")
    nam.add_argument("--mode", choices=("added", "removed"), default="added", help="with --flips (default added)")
    nam.set_defaults(func=cmd_names, results_file="existing")

    rec = common.command(sub, "recommend", help="choose each class's names by cross-validation; write them as YAML")
    rec.add_argument("run_id")
    rec.add_argument("--out", required=True, help="YAML label file to write (use it with run --labels)")
    rec.add_argument("--folds", type=int, default=5)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")
    rec.set_defaults(func=cmd_recommend, results_file="existing")

    why = common.command(sub, "explain", help="one image level by level: its top names and where the prediction flips")
    why.add_argument("run_id")
    why.add_argument("image", help="image number, its name as shown (class/file.jpg) or its path")
    why.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")
    why.add_argument("--top", type=int, default=5, help="names shown per level (default 5)")
    why.set_defaults(func=cmd_explain, results_file="existing")

    lab = common.command(sub, "labels", help="write a generated label set for a dataset")
    lab.add_argument("dataset")
    lab.add_argument("--scheme", choices=list(synonyms.REGISTRY), default="paper")
    lab.add_argument("--domain", help="the paper scheme's domain word D (default: WordNet's shared category)")
    lab.add_argument("--out", required=True, help="YAML file to write")
    lab.set_defaults(func=cmd_labels)


def cmd_labels(args) -> int:
    ds = datasets.load(args.dataset)
    generated = _generate(ds.classes, args.scheme, runs.domain_word(args.dataset, args.domain), args.quiet)
    labels = generated.labels
    with common.writing(args.out):
        labels.save(args.out)
    for w in generated.notes:
        print(f"note: {w}", file=sys.stderr)
    print(f"wrote {count(len(labels.names), 'class', 'classes')}, up to {count(labels.max_names, 'name')} each, "
          f"to {args.out}")
    return 0


def _generate(classes: list[str], scheme: str, domain: str | None, quiet: bool) -> synonyms.Generated:
    with common.FetchBar(quiet) as bar:
        return synonyms.generate(classes, scheme, domain=domain, progress=bar)


def cmd_names(args, store: ResultsStore) -> int:
    from semscale.analysis import name_effects, run_embeddings

    run = run_embeddings.load(store, args.run_id, args.results)
    agg = args.aggregation or run.config["aggregations"][0]
    if args.flips:
        cls, name = args.flips
        flips = name_effects.name_flips(run, agg, cls, name, args.mode)
        print(name_effects.format_name_flips(flips, cls, name, args.mode))
    else:
        print(name_effects.format_name_effects(name_effects.name_effects(run, agg), agg, len(run.truth)))
    return 0


def cmd_recommend(args, store: ResultsStore) -> int:
    from semscale.analysis import recommend, run_embeddings

    run = run_embeddings.load(store, args.run_id, args.results)
    rec = recommend.recommend(run, args.aggregation, args.folds, args.seed)
    print(recommend.format_recommendation(rec))
    with common.writing(args.out):
        rec.label_set().save(args.out)
    config = store.run(args.run_id).config
    print(f"wrote {args.out}; try it: {pasteable.try_labels(args.results, config, args.out)}")
    return 0


def cmd_explain(args, store: ResultsStore) -> int:
    from semscale.analysis import explain, run_embeddings

    run = run_embeddings.load(store, args.run_id, args.results)
    print(explain.format_explanation(explain.explain(run, args.image, args.aggregation, args.top)))
    return 0
