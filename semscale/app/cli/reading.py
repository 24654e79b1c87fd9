"""The commands that read a results file: `list` its runs, `show` one, `export` its points and
predictions, write a `report` with figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from semscale.analysis import tables
from semscale.analysis.threshold import thresholds
from semscale.app.cli import common
from semscale.core.wording import count
from semscale.run import pasteable, presets
from semscale.store.results import ResultsStore


def register(sub) -> None:
    """list, show, export and report."""
    common.command(sub, "list", help="list runs").set_defaults(func=cmd_list, results_file="existing")
    show = common.command(sub, "show", help="accuracy per level of one run")
    show.add_argument("run_id")
    show.add_argument("--rejected", action="store_true", help="list every file the run left out, with its reason")
    show.set_defaults(func=cmd_show, results_file="existing")

    exp = common.command(sub, "export", help="write a run's points and predictions as CSV or Parquet")
    exp.add_argument("run_id")
    fmt = exp.add_mutually_exclusive_group(required=True)
    for name, (_, help_) in EXPORTS.items():
        fmt.add_argument(f"--{name}", dest="format", action="store_const", const=name, help=help_)
    exp.add_argument("--out", default=".", help="folder for <run>-points.<ext> and <run>-predictions.<ext>")
    exp.set_defaults(func=cmd_export, results_file="existing")

    rep = common.command(sub, "report", help="write figures (PNG) and a Markdown summary of runs")
    rep.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    rep.add_argument("--out", required=True, help="folder for report.md and the figures")
    rep.set_defaults(func=cmd_report, results_file="existing")


def cmd_list(args, store: ResultsStore) -> int:
    listed = store.runs()
    if not listed:
        print(f"no runs in {store.path}")
    for r in listed:
        print(f"{r.run_id}  {r.status:<11} {r.created:%Y-%m-%d %H:%M}  {r.dataset:<20} "
              f"{r.n_done}/{r.n_images} images  {r.model}")
    return 0


def cmd_show(args, store: ResultsStore) -> int:
    if args.rejected:
        left_out = store.rejected(store.run(args.run_id).run_id)
        print(f"left out {count(len(left_out), 'file or class', 'files or classes')}"
              + (":" if len(left_out) else ""))
        for row in left_out.itertuples():
            print(f"  {row.item}: {row.reason}")
        return 0
    show(store, args.run_id)
    return 0


def show(store: ResultsStore, run_id: str) -> None:
    info = store.run(run_id)
    print(f"run {info.run_id}  {info.status}  dataset={info.dataset}  model={info.model_text()}")
    print(f"images {info.n_done}/{info.n_images}, rejected {info.n_rejected}, "
          f"elapsed {info.elapsed or 0:.1f} s")
    if info.partial:
        print(info.partial_note())
    print("settings:\n" + "\n".join(f"  {line}" for line in presets.protocol_lines(info.config)))
    relations = store.run_relations(info.run_id)
    print("names (by relation to the class; kind and broader are NOT names of the class):")
    for c, names in store.run_names(info.run_id).items():
        print(f"  {c}: {_by_relation(names, relations[c])}")
    curves = tables.curves(store.points(info.run_id))
    if curves.empty:
        return
    orders = curves["repeats"].max() > 1
    print(f"{'aggregation':<12}{'names':>6}{'cands':>7}{'images':>8}{'accuracy':>10}  95% CI"
          + ("            over orders: mean [min, max]" if orders else ""))
    for r in curves.itertuples():
        acc = "-" if r.n_images == 0 else f"{r.accuracy:.4f}"
        spread = f"   {r.mean_accuracy:.4f} [{r.min_accuracy:.3f}, {r.max_accuracy:.3f}]" if orders else ""
        print(f"{r.aggregation:<12}{r.n_names:>6}{r.n_candidates:>7}{r.n_images:>8}{acc:>10}  "
              f"[{r.ci_low:.3f}, {r.ci_high:.3f}]{spread}")
    if not info.partial:
        for agg, t in thresholds(store.predictions(info.run_id)).items():
            print(f"{agg}: {t.sentence()}")


def _by_relation(names: list[str], relations: list[str | None]) -> str:
    """'name: dog | plural: dogs | modifier: large dog, small dog': runs of one relation said once."""
    groups: list[tuple[str | None, list[str]]] = []
    for name, relation in zip(names, relations, strict=True):
        if groups and groups[-1][0] == relation:
            groups[-1][1].append(name)
        else:
            groups.append((relation, [name]))
    return " | ".join(f"{relation or 'relation not kept'}: {', '.join(names)}" for relation, names in groups)


def _csv(frame, path: Path) -> None:
    """List columns (top_names, top_sims) as JSON arrays, which any reader can parse back."""
    lists = [c for c in frame.columns if len(frame) and isinstance(frame[c].iloc[0], (list, tuple, np.ndarray))]
    frame.assign(**{c: [json.dumps(list(map(_plain, v))) for v in frame[c]] for c in lists}).to_csv(path, index=False)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


EXPORTS = {  # --FORMAT: (file extension and writer, help)
    "csv": ((".csv", _csv), "CSV; list columns (top_names, top_sims) as JSON arrays"),
    "parquet": ((".parquet", lambda frame, path: frame.to_parquet(path, index=False)),
                "Parquet (pyarrow); list columns stay lists"),
}


def cmd_export(args, store: ResultsStore) -> int:
    info = store.run(args.run_id)
    (ext, write), _ = EXPORTS[args.format]
    out = Path(args.out)
    points, preds = out / f"{info.run_id}-points{ext}", out / f"{info.run_id}-predictions{ext}"
    with common.writing(out):
        out.mkdir(parents=True, exist_ok=True)
        write(store.points(info.run_id), points)
        write(store.predictions(info.run_id), preds)
    print(f"wrote {points} and {preds}")
    return 0


def cmd_report(args, store: ResultsStore) -> int:
    from semscale.app import report  # matplotlib: loaded only when a report is asked for

    run_ids = [store.run(r).run_id for r in args.run_ids]
    with common.writing(args.out):
        path = report.write(store, run_ids, args.out, pasteable.this_command())
    print(f"wrote {path}")
    return 0
