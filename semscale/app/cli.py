"""Command line: python -m semscale run | resume | list | show | compare | names | recommend | explain | export |
report | labels | serve | ping | models."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from semscale.core import paths
from semscale.names import synonyms
from semscale.data import datasets
from semscale.models import encoders, health, settings
from semscale.store import runqueue
from semscale.run import aggregations, pasteable, presets, runs
from semscale.analysis import tables
from semscale.run.config import RunConfig
from semscale.run.engine import Engine, Progress, Together, WrongModel
from semscale.core.errors import SemscaleError
from semscale.names.labels import LabelSet
from semscale.store.owners import RunOwned
from semscale.store.results import ResultsStore
from semscale.analysis.threshold import thresholds
from semscale.core.wording import count, printable


def _add_backend(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CLIP backend (default: the embedded local model)")
    g.add_argument("--server", help="clip-as-service URL, e.g. grpc://127.0.0.1:51000 (or $SEMSCALE_SERVER)")
    g.add_argument("--local", metavar="MODEL_DIR", nargs="?", const="", default=None,
                   help="use the local ONNX model; MODEL_DIR holds vision/ and text/ (or $SEMSCALE_MODEL_DIR)")
    g.add_argument("--timeout", type=float, help="seconds per server request (default 60)")
    g.add_argument("--retries", type=int, help="extra attempts per failed request (default 3)")
    g.add_argument("--server-batch", type=int, dest="server_batch", help="docs per server request (default 32)")
    g.add_argument("--server-model", dest="server_model", metavar="NAME",
                   help="the server's model, e.g. ViT-B-32::openai, stored with the run beside its fingerprint "
                        "(clip-as-service never says which model it serves)")


def _add_model(p: argparse.ArgumentParser, repeatable: bool) -> None:
    from semscale.models import registry

    p.add_argument("--model", action="append" if repeatable else "store", default=None, choices=list(registry.REGISTRY),
                   help="embedded registry model (see `semscale models`; default $SEMSCALE_MODEL or "
                        f"{registry.DEFAULT_MODEL})" + ("; repeat it to run the same experiment on several" if repeatable else ""))


def _global_options(top: bool) -> argparse.ArgumentParser:
    """--results and --quiet, accepted before or after the command: the subcommands' copies have no
    default, so a value given before the command is kept unless one is given after it."""
    g = argparse.ArgumentParser(add_help=False)
    unset = {} if top else {"default": argparse.SUPPRESS}
    g.add_argument("--results", **({"default": None} | unset),
                   help=f"DuckDB results file (default $SEMSCALE_RESULTS or {paths.DEFAULT_RESULTS})")
    g.add_argument("--quiet", "-q", action="store_true", **({"default": False} | unset),
                   help="no progress bar, notes or lists of left-out files; errors and results only")
    return g


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="semscale", description="Semantic scaling of CLIP zero-shot labels.",
                                 parents=[_global_options(top=True)])
    sub = ap.add_subparsers(dest="command", required=True)
    common = _global_options(top=False)

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)  # every command takes the global options

    run = command("run", help="run a scaling experiment")
    run.add_argument("--dataset", help=f"built-in name ({', '.join(datasets.BUILTINS)}), folder, .zip or .csv")
    run.add_argument("--labels", help="YAML/JSON label set (class: [names...])")
    run.add_argument("--preset", choices=list(presets.PRESETS),
                     help="paper: the authors' protocol (12 modifier names, k = 1, 2, 3 ..., raw names, max)")
    run.add_argument("--scheme", choices=synonyms.SCHEMES, help="generate names when no --labels is given")
    run.add_argument("--domain", help="the paper scheme's domain word D, e.g. Flower (default: WordNet's shared category)")
    run.add_argument("--schedule", help="exponential (default), linear, linear:STEP or 1,2,4,...")
    run.add_argument("--aggregation", action="append", choices=aggregations.names(), help="repeatable; default max")
    run.add_argument("--template", action="append", default=[], help="prompt template, e.g. 'a photo of a {}.'")
    run.add_argument("--repeats", type=int, help="name orders to average over (seeded; default 1)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=int, default=32, help="images per committed batch")
    run.add_argument("--config", help="a RunConfig as JSON (used by the dashboard)")
    run.add_argument("--run-id", help=argparse.SUPPRESS)
    _add_backend(run)
    _add_model(run, repeatable=True)

    res = command("resume", help="finish an interrupted run")
    res.add_argument("run_id")
    _add_backend(res)
    _add_model(res, repeatable=False)

    command("list", help="list runs")
    show = command("show", help="accuracy per level of one run")
    show.add_argument("run_id")
    show.add_argument("--rejected", action="store_true", help="list every file the run left out, with its reason")
    cmp_ = command("compare", help="two runs (two models, or two label sets) level by level, with a paired test")
    cmp_.add_argument("run_a", metavar="RUN_A")
    cmp_.add_argument("run_b", metavar="RUN_B")

    nam = command("names", help="which names help and which hurt: each name added alone and removed")
    nam.add_argument("run_id")
    nam.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")
    nam.add_argument("--flips", nargs=2, metavar=("CLASS", "NAME"), help="list the images this name flips")
    nam.add_argument("--mode", choices=("added", "removed"), default="added", help="with --flips (default added)")

    rec = command("recommend", help="choose each class's names by cross-validation; write them as YAML")
    rec.add_argument("run_id")
    rec.add_argument("--out", required=True, help="YAML label file to write (use it with run --labels)")
    rec.add_argument("--folds", type=int, default=5)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")

    why = command("explain", help="one image level by level: its top names and where the prediction flips")
    why.add_argument("run_id")
    why.add_argument("image", help="image number, its name as shown (class/file.jpg) or its path")
    why.add_argument("--aggregation", choices=aggregations.names(), help="default: the run's first")
    why.add_argument("--top", type=int, default=5, help="names shown per level (default 5)")

    exp = command("export", help="write a run's points and predictions as CSV or Parquet")
    exp.add_argument("run_id")
    fmt = exp.add_mutually_exclusive_group(required=True)
    for name, (_, help_) in EXPORTS.items():
        fmt.add_argument(f"--{name}", dest="format", action="store_const", const=name, help=help_)
    exp.add_argument("--out", default=".", help="folder for <run>-points.<ext> and <run>-predictions.<ext>")

    rep = command("report", help="write figures (PNG) and a Markdown summary of runs")
    rep.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    rep.add_argument("--out", required=True, help="folder for report.md and the figures")

    lab = command("labels", help="write a generated label set for a dataset")
    lab.add_argument("dataset")
    lab.add_argument("--scheme", choices=synonyms.SCHEMES, default="paper")
    lab.add_argument("--domain", help="the paper scheme's domain word D (default: WordNet's shared category)")
    lab.add_argument("--out", required=True, help="YAML file to write")

    srv = command("serve", help="serve the local CLIP model to clip-as-service clients (a Jina Flow)")
    srv.add_argument("--port", type=int, default=51000)
    srv.add_argument("--protocol", choices=("grpc", "http", "websocket"), default="grpc")
    srv.add_argument("--replicas", type=int, default=1, help="copies of the model behind the gateway")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    srv.add_argument("--local", metavar="MODEL_DIR", default=None,
                     help="folder with vision/ and text/ ONNX models (or $SEMSCALE_MODEL_DIR; default ViT-B/32)")
    _add_model(srv, repeatable=False)
    srv.add_argument("--allow-remote-uris", action="store_true", dest="allow_remote_uris",
                     help="fetch http(s) image URIs clients send (public addresses only, no redirects, 20 MB)")

    png = command("ping", help="does a CLIP server answer, and with which model?")
    png.add_argument("url", help="e.g. grpc://127.0.0.1:51000 or grpcs://host:port")
    png.add_argument("--token", help="access token (or $SEMSCALE_TOKEN, or [clip] token in .streamlit/secrets.toml)")
    png.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")

    command("models", help="list the registry's models, their sizes and licences, and which are cached")
    return ap


def _backend(args, model: str | None = None, typed: bool = True) -> settings.Backend:
    """The backend the options name; `typed`: `args.server` was typed by this user, so a token
    configured without a server goes to it (not so for a URL read from someone's results file)."""
    if args.server and args.local is not None:
        raise SemscaleError("choose either --server or --local, not both")
    if args.server and model:
        raise SemscaleError("--model picks an embedded model; a server serves its own (see `semscale ping URL`)")
    options = {"timeout": args.timeout, "retries": args.retries, "batch_size": args.server_batch, "model": model,
               "server_model": args.server_model}
    if args.local is not None:
        backend = settings.Backend(server=None, model_dir=args.local or None,
                                   **{k: v for k, v in options.items() if v is not None})
    else:
        backend = settings.backend(server=args.server, unbound=typed, **options)
    if args.server_model and not backend.server:
        raise SemscaleError("--server-model names a CLIP server's model: give it with --server URL")
    return backend


class _Bar:
    """tqdm progress on stderr, images per second in the postfix."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = self._tqdm(total=p.total, unit="img", file=_raw(sys.stderr), desc=f"run {p.run_id}")
        self.bar.n = p.done
        self.bar.set_postfix(rejected=p.rejected, refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _stop_on_sigterm() -> list[bool]:
    """SIGTERM (the dashboard's Cancel) stops the run after the batch in flight."""
    flag = [False]
    signal.signal(signal.SIGTERM, lambda *_: flag.__setitem__(0, True))
    return flag


def _config_from_args(args) -> RunConfig:
    """The run's settings, checked, without its names (`runs.configure`); a dashboard job's saved config as is."""
    if args.config:
        try:
            return RunConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise SemscaleError(f"cannot read run config {args.config}: {exc}") from None
    if not args.dataset:
        raise SemscaleError("give --dataset (a built-in name, folder, .zip or .csv)")
    return runs.configure(args.dataset, preset=args.preset, domain=args.domain, schedule=args.schedule,
                          aggregations=args.aggregation, templates=args.template or None, repeats=args.repeats,
                          seed=args.seed, batch_size=args.batch_size)


class _FetchBar:
    """A percent bar on stderr for WordNet's one-time download (nothing with --quiet)."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, fraction: float) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, unit="%", desc="fetching WordNet once", file=_raw(sys.stderr))
        self.bar.update(round(100 * fraction) - self.bar.n)

    def __enter__(self) -> "_FetchBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _name(config: RunConfig, classes: list[str], args) -> list[str]:
    """The run's names (`runs.name`): --labels, else --scheme or the preset's, with a progress bar for WordNet."""
    loaded = LabelSet.load(args.labels) if args.labels else None
    with _FetchBar(args.quiet) as bar:
        return runs.name(config, classes, scheme=args.scheme, labels=loaded and loaded.names,
                         relations=loaded and loaded.relations, progress=bar)


def _generate(classes: list[str], scheme: str, domain: str | None, quiet: bool) -> synonyms.Generated:
    with _FetchBar(quiet) as bar:
        return synonyms.generate(classes, scheme, domain=domain, progress=bar)


LEFT_OUT_SHOWN = 10  # left-out files printed after a run; `show RUN_ID --rejected` lists all


def _print_left_out(store: ResultsStore, run_id: str, results: str | None) -> None:
    """How many files the run left out (at listing or decoding), the first few with their reasons."""
    left_out = store.rejected(run_id)
    if left_out.empty:
        return
    print(f"left out {count(len(left_out), 'file or class', 'files or classes')}:", file=sys.stderr)
    for row in left_out.head(LEFT_OUT_SHOWN).itertuples():
        print(f"  {row.item}: {row.reason}", file=sys.stderr)
    if len(left_out) > LEFT_OUT_SHOWN:
        print(f"  ... and {len(left_out) - LEFT_OUT_SHOWN} more: {pasteable.command(results, 'show', run_id, '--rejected')}",
              file=sys.stderr)


def cmd_run(args, store: ResultsStore) -> int:
    config = _config_from_args(args)
    config.validate()  # bad templates, aggregations, ... before the data set is even listed
    model_names = args.model or [None]
    if len(model_names) > 1 and args.run_id:
        raise SemscaleError("--run-id names one run; give one --model with it")
    backends = [_backend(args, model) for model in model_names]
    dataset = datasets.load(config.dataset)
    notes = [] if args.config else _name(config, dataset.classes, args)
    if backends[0].server:  # refuse at once, before a run is registered, when the server is not there
        status = health.check(backends[0], ask_model=False, timeout=backends[0].timeout)
        if not status.ok:
            raise SemscaleError(f"CLIP server {backends[0].server} does not answer: {status.reason}")
    started = []
    for backend in backends:  # one run per model: the same images and names, each model's own cache
        config.backend = backend.public()
        encoder = _encoder(backend, args.quiet)
        if not runqueue.queued():  # a broken model is refused before a run is registered; a queued run
            encoder.load()  # loads its model when its turn comes, so waiting runs hold none
        engine = Engine(store, encoder)
        run_id = engine.start(config, dataset, run_id=args.run_id, queued=runqueue.queued())
        if not args.quiet:
            print(f"run {run_id}: {count(len(dataset.samples), 'image')}, {count(len(dataset.classes), 'class', 'classes')}, "
                  f"model {engine.encoder.model_id} -> {store.path}", file=sys.stderr)
            for note in dict.fromkeys([*store.notes(run_id), *notes]):  # the domain note is among both
                print(f"note: {note}", file=sys.stderr)
        started.append((engine, run_id))
    # several models read and decode each batch once, each encoding it into its own run and cache
    with runqueue.turn(store, [run_id for _, run_id in started]) as ready:  # started by the dashboard: wait in line
        code = _process(Together(started) if len(started) > 1 else started[0][0], store,
                        [run_id for _, run_id in started], args.results, args.quiet) if ready else 3
    for _, run_id in started[1:] if code == 0 else []:
        _show(store, run_id)
    return code


def _encoder(backend: settings.Backend, quiet: bool):
    """The backend's encoder. An embedded model that is neither cached nor fetchable is refused
    within seconds, with the ways out (`health.model_start`); one being fetched shows a byte bar."""
    blocked = health.model_start(backend)
    if blocked:
        raise SemscaleError(blocked)
    bar = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc="fetching the model once", file=sys.stderr)
        bar.update(done - bar.n)

    stop = None if quiet else health.fetch_progress(backend, show)
    try:
        return encoders.for_backend(backend)
    finally:
        if stop is not None:
            stop.set()
        if bar is not None:
            bar.close()


def _resumes(results: str | None, run_ids: list[str], *words: str) -> tuple[str, str]:
    """('it', the resume command) for one run, ('them', the commands joined by '; ') for several:
    every run named, pasteable into a shell as is."""
    return ("it" if len(run_ids) == 1 else "them",
            "; ".join(pasteable.command(results, "resume", run_id, *words) for run_id in run_ids))


@contextlib.contextmanager
def _writing(path) -> Iterator[None]:
    """Writing to `path`, an output the user named: a missing or read-only folder, a folder where a
    file goes or a full disk is one line naming it, not a traceback."""
    try:
        yield
    except OSError as exc:  # pyarrow's IO errors are OSErrors too
        why = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise SemscaleError(f"cannot write {path}: {why}; choose another --out") from None


def _process(engine: Engine | Together, store: ResultsStore, run_ids: list[str], results: str | None,
             quiet: bool = False) -> int:
    """Process the runs (several: one per model, together) and print the first one's outcome; on an
    interrupt or error, say how to finish every one of them."""
    run_id = run_ids[0]
    stop = _stop_on_sigterm()
    bar = _Bar() if not quiet else None
    try:
        try:
            status = engine.process(run_id, progress=bar, should_stop=lambda: stop[0])
        finally:  # before any message, so the message is the last line
            if bar is not None:
                bar.close()
    except RunOwned:
        raise  # not this process's run: nothing to resume, main() prints the owner
    except KeyboardInterrupt:
        it, commands = _resumes(results, run_ids)
        print(f"interrupted; finish {it} with: {commands}", file=sys.stderr)
        return 130
    except WrongModel as exc:
        it, commands = _resumes(results, run_ids, "--server", "URL")
        print(f"error: {exc}\nresume {it} where {'its model is' if it == 'it' else 'their models are'} served: "
              f"{commands}", file=sys.stderr)
        return 2
    except SemscaleError as exc:
        it, commands = _resumes(results, run_ids)
        print(f"error: {exc}\nwhat was done is kept; finish {it} with: {commands}", file=sys.stderr)
        return 1
    finally:
        if not quiet:  # files left out while listing and while decoding, whatever the outcome
            _print_left_out(store, run_id, results)
    _show(store, run_id)
    return 0 if status == "done" else 3


def _saved_backend(config: dict) -> argparse.Namespace:
    """The backend options a run was stored with, read back as the CLI reads them when pasted."""
    p = argparse.ArgumentParser(add_help=False)
    _add_backend(p)
    p.add_argument("--model")  # any stored name: one no longer in the registry is refused when the model loads
    return p.parse_args(settings.Backend.from_saved(config.get("backend")).to_cli_args())


def cmd_resume(args, store: ResultsStore) -> int:
    if args.server_model:
        raise SemscaleError("a run keeps the server's model name given when it started: resume takes no --server-model")
    info = store.run(args.run_id)
    if info.status == "done":
        print(f"run {info.run_id} is already complete")
        return 0
    if info.status == "running":  # its owner is alive (the claim checks again, atomically)
        raise RunOwned(info.run_id, info.owner)
    saved = _saved_backend(info.config)
    typed = args.server is not None
    if args.server is None and args.local is None:
        args.server, args.local = saved.server, saved.local
    for option in ("timeout", "retries", "server_batch"):
        if getattr(args, option) is None:
            setattr(args, option, getattr(saved, option))  # the run's own settings unless overridden
    engine = Engine(store, _encoder(_backend(args, args.model or saved.model, typed), args.quiet))
    return _process(engine, store, [info.run_id], args.results, args.quiet)


def cmd_show(args, store: ResultsStore) -> int:
    if args.rejected:
        left_out = store.rejected(store.run(args.run_id).run_id)
        print(f"left out {count(len(left_out), 'file or class', 'files or classes')}"
              + (":" if len(left_out) else ""))
        for row in left_out.itertuples():
            print(f"  {row.item}: {row.reason}")
        return 0
    _show(store, args.run_id)
    return 0


def _show(store: ResultsStore, run_id: str) -> None:
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
    for name, relation in zip(names, relations):
        if groups and groups[-1][0] == relation:
            groups[-1][1].append(name)
        else:
            groups.append((relation, [name]))
    return " | ".join(f"{relation or 'relation not kept'}: {', '.join(names)}" for relation, names in groups)


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


def cmd_names(args, store: ResultsStore) -> int:
    from semscale.analysis import name_effects, run_embeddings

    run = run_embeddings.load(store, args.run_id, args.results)
    agg = args.aggregation or run.config["aggregations"][0]
    if args.flips:
        cls, name = args.flips
        print(name_effects.format_name_flips(name_effects.name_flips(run, agg, cls, name, args.mode), cls, name, args.mode))
    else:
        print(name_effects.format_name_effects(name_effects.name_effects(run, agg), agg, len(run.truth)))
    return 0


def cmd_recommend(args, store: ResultsStore) -> int:
    from semscale.analysis import recommend, run_embeddings

    rec = recommend.recommend(run_embeddings.load(store, args.run_id, args.results), args.aggregation, args.folds, args.seed)
    print(recommend.format_recommendation(rec))
    with _writing(args.out):
        rec.label_set().save(args.out)
    config = store.run(args.run_id).config
    print(f"wrote {args.out}; try it: {pasteable.try_labels(args.results, config, args.out)}")
    return 0


def cmd_explain(args, store: ResultsStore) -> int:
    from semscale.analysis import explain, run_embeddings

    run = run_embeddings.load(store, args.run_id, args.results)
    print(explain.format_explanation(explain.explain(run, args.image, args.aggregation, args.top)))
    return 0


def cmd_report(args, store: ResultsStore) -> int:
    from semscale.app import report  # matplotlib: loaded only when a report is asked for

    run_ids = [store.run(r).run_id for r in args.run_ids]
    with _writing(args.out):
        path = report.write(store, run_ids, args.out, pasteable.this_command())
    print(f"wrote {path}")
    return 0


def cmd_list(args, store: ResultsStore) -> int:
    listed = store.runs()
    if not listed:
        print(f"no runs in {store.path}")
    for r in listed:
        print(f"{r.run_id}  {r.status:<11} {r.created:%Y-%m-%d %H:%M}  {r.dataset:<20} "
              f"{r.n_done}/{r.n_images} images  {r.model}")
    return 0


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
    with _writing(out):
        out.mkdir(parents=True, exist_ok=True)
        write(store.points(info.run_id), points)
        write(store.predictions(info.run_id), preds)
    print(f"wrote {points} and {preds}")
    return 0


def cmd_labels(args, store: ResultsStore | None = None) -> int:
    ds = datasets.load(args.dataset)
    generated = _generate(ds.classes, args.scheme, runs.domain_word(args.dataset, args.domain), args.quiet)
    labels = generated.labels
    with _writing(args.out):
        labels.save(args.out)
    for w in generated.notes:
        print(f"note: {w}", file=sys.stderr)
    print(f"wrote {count(len(labels.names), 'class', 'classes')}, up to {count(labels.max_names, 'name')} each, to {args.out}")
    return 0


def cmd_serve(args) -> int:
    from semscale.models import server  # imports Jina: only for this command

    return server.serve(port=args.port, protocol=args.protocol, host=args.host, replicas=args.replicas,
                        model_dir=args.local, allow_remote_uris=args.allow_remote_uris, model=args.model)


def cmd_models(args) -> int:
    from semscale.models import registry

    print(registry.format_listing(registry.listing()))
    return 0


def cmd_ping(args) -> int:
    from semscale.models import health

    backend = settings.backend(server=args.url, token=args.token, timeout=args.timeout, retries=0)
    encoder_url = encoders.for_backend(backend).url  # validates the URL; never shows the token
    status = health.check(backend, timeout=args.timeout)
    if not status.ok:
        print(f"CLIP server {encoder_url} does not answer: {status.reason}", file=sys.stderr)
        return 2
    print(f"CLIP server {encoder_url} answers: model {status.model}, {status.dim}-d embeddings")
    return 0


class _Printable:
    """A text stream that writes with control characters and bidi marks escaped (`wording.printable`):
    names and paths come from files and servers, and reach the terminal only through this."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(printable(text, keep="\n\t"))

    def __getattr__(self, name):
        return getattr(self.raw, name)


def _raw(stream):
    """The terminal under a `_Printable`: progress bars draw with carriage returns of their own."""
    return getattr(stream, "raw", stream)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":  # the server's own log, colours and all
        return _main(args)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        return _main(args)
    finally:
        sys.stdout, sys.stderr = streams


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "labels":
            return cmd_labels(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "ping":
            return cmd_ping(args)
        if args.command == "models":
            return cmd_models(args)
        results = Path(args.results or paths.results_path())
        if args.command != "run" and not results.exists():  # reading commands never create an empty file
            raise SemscaleError(f"no results file {results}; name yours with --results FILE (or $SEMSCALE_RESULTS)")
        store = ResultsStore(results)
        handler = {"run": cmd_run, "resume": cmd_resume, "list": cmd_list, "export": cmd_export, "report": cmd_report,
                   "compare": cmd_compare, "names": cmd_names, "recommend": cmd_recommend, "explain": cmd_explain,
                   "show": cmd_show}[args.command]
        return handler(args, store)
    except SemscaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `semscale names RUN | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
