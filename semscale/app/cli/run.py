"""`run` and `resume`: start a run (one per --model, processed together) or finish an interrupted one,
with a progress bar, and print its curve."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from semscale.app.cli import common, reading
from semscale.core.errors import SemscaleError
from semscale.core.wording import count
from semscale.data import datasets
from semscale.models import encoders, health, settings
from semscale.names import synonyms
from semscale.names.labels import LabelSet
from semscale.run import aggregations, pasteable, presets, runs
from semscale.run.config import RunConfig
from semscale.run.engine import Engine, Progress, Together, WrongModel
from semscale.store import runqueue
from semscale.store.owners import RunOwned
from semscale.store.results import ResultsStore


def register(sub) -> None:
    """run: start a scaling experiment; resume: finish an interrupted one."""
    run = common.command(sub, "run", help="run a scaling experiment")
    run.add_argument("--dataset", help=f"built-in name ({', '.join(datasets.BUILTINS)}), folder, .zip or .csv")
    run.add_argument("--labels", help="YAML/JSON label set (class: [names...])")
    run.add_argument("--preset", choices=list(presets.PRESETS),
                     help="paper: the authors' protocol (12 modifier names, k = 1, 2, 3 ..., raw names, max)")
    run.add_argument("--scheme", choices=list(synonyms.REGISTRY), help="generate names when no --labels is given")
    run.add_argument("--domain",
                     help="the paper scheme's domain word D, e.g. Flower (default: WordNet's shared category)")
    run.add_argument("--schedule", help="exponential (default), linear, linear:STEP or 1,2,4,...")
    run.add_argument("--aggregation", action="append", choices=aggregations.names(), help="repeatable; default max")
    run.add_argument("--template", action="append", default=[], help="prompt template, e.g. 'a photo of a {}.'")
    run.add_argument("--repeats", type=int, help="name orders to average over (seeded; default 1)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=int, default=32, help="images per committed batch")
    run.add_argument("--config", help="a RunConfig as JSON (used by the dashboard)")
    run.add_argument("--run-id", help=argparse.SUPPRESS)
    common.add_backend(run)
    common.add_model(run, repeatable=True)
    run.set_defaults(func=cmd_run, results_file="create")

    res = common.command(sub, "resume", help="finish an interrupted run")
    res.add_argument("run_id")
    common.add_backend(res)
    common.add_model(res, repeatable=False)
    res.set_defaults(func=cmd_resume, results_file="existing")


class _Bar:
    """tqdm progress on stderr, images per second in the postfix."""

    def __init__(self):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = self._tqdm(total=p.total, unit="img", file=common.raw(sys.stderr), desc=f"run {p.run_id}")
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


def _name(config: RunConfig, classes: list[str], args) -> list[str]:
    """The run's names (`runs.name`): --labels, else --scheme or the preset's, with a progress bar for WordNet."""
    loaded = LabelSet.load(args.labels) if args.labels else None
    with common.FetchBar(args.quiet) as bar:
        return runs.name(config, classes, scheme=args.scheme, labels=loaded and loaded.names,
                         relations=loaded and loaded.relations, progress=bar)


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
        show = pasteable.command(results, "show", run_id, "--rejected")
        print(f"  ... and {len(left_out) - LEFT_OUT_SHOWN} more: {show}", file=sys.stderr)


def cmd_run(args, store: ResultsStore) -> int:
    config = _config_from_args(args)
    config.validate()  # bad templates, aggregations, ... before the data set is even listed
    model_names = args.model or [None]
    if len(model_names) > 1 and args.run_id:
        raise SemscaleError("--run-id names one run; give one --model with it")
    backends = [common.backend(args, model) for model in model_names]
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
            print(f"run {run_id}: {count(len(dataset.samples), 'image')}, "
                  f"{count(len(dataset.classes), 'class', 'classes')}, model {engine.encoder.model_id} "
                  f"-> {store.path}", file=sys.stderr)
            for note in dict.fromkeys([*store.notes(run_id), *notes]):  # the domain note is among both
                print(f"note: {note}", file=sys.stderr)
        started.append((engine, run_id))
    # several models read and decode each batch once, each encoding it into its own run and cache
    with runqueue.turn(store, [run_id for _, run_id in started]) as ready:  # started by the dashboard: wait in line
        code = _process(Together(started) if len(started) > 1 else started[0][0], store,
                        [run_id for _, run_id in started], args.results, args.quiet) if ready else 3
    for _, run_id in started[1:] if code == 0 else []:
        reading.show(store, run_id)
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


def _process(engine: Engine | Together, store: ResultsStore, run_ids: list[str], results: str | None,
             quiet: bool = False) -> int:
    """Process the runs (several: one per model, together) and print the first one's outcome; on an
    interrupt or error, say how to finish every one of them."""
    run_id = run_ids[0]
    stop = _stop_on_sigterm()
    bar = _Bar() if not quiet else None

    def should_stop() -> bool:
        common.INTERRUPTS.check()  # a Ctrl-C a library dropped stops the run after this batch all the same
        return stop[0]

    try:
        try:
            status = common.INTERRUPTS.interruptible(
                lambda: engine.process(run_id, progress=bar, should_stop=should_stop))
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
    reading.show(store, run_id)
    return 0 if status == "done" else 3


def _saved_backend(config: dict) -> argparse.Namespace:
    """The backend options a run was stored with, read back as the CLI reads them when pasted."""
    p = argparse.ArgumentParser(add_help=False)
    common.add_backend(p)
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
    engine = Engine(store, _encoder(common.backend(args, args.model or saved.model, typed), args.quiet))
    return _process(engine, store, [info.run_id], args.results, args.quiet)
