"""Command line: python -m semscale run | resume | list | show | compare | names | recommend | explain | export |
report | labels | serve | ping | models.

Each command group is a module that registers its sub-parsers (`register(sub)`), each naming its handler
(`func`) and whether it opens the results file (`results_file`: "create", "existing", or none); `main`
dispatches through the parser and turns a SemscaleError into one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semscale.app.cli import common, compare, models, names, reading, run, server
from semscale.core import paths
from semscale.core.errors import SemscaleError
from semscale.store.results import ResultsStore

GROUPS = (run, reading, compare, names, server, models)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="semscale", description="Semantic scaling of CLIP zero-shot labels.",
                                 parents=[common.global_options(top=True)])
    sub = ap.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    ap.set_defaults(results_file=None, escaped=True)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    common.INTERRUPTS.listen()
    if not args.escaped:
        return _main(args)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = common.Printable(sys.stdout), common.Printable(sys.stderr)
    try:
        return _main(args)
    finally:
        sys.stdout, sys.stderr = streams


def _main(args: argparse.Namespace) -> int:
    """The command's handler, given the results file when it reads or writes one; every SemscaleError
    is one line."""
    try:
        if args.results_file is None:
            return common.INTERRUPTS.interruptible(lambda: args.func(args))
        results = Path(args.results or paths.results_path())
        if args.results_file == "existing" and not results.exists():  # reading commands never create an empty file
            raise SemscaleError(f"no results file {results}; name yours with --results FILE (or $SEMSCALE_RESULTS)")
        return common.INTERRUPTS.interruptible(lambda: args.func(args, ResultsStore(results)))
    except SemscaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `semscale names RUN | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
