"""What several command groups share: the backend and model options and the backend they name, the
WordNet download bar, writing an output the user named, the terminal every command prints to, and Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Callable, Iterator, TypeVar

from semscale.core import paths
from semscale.core.errors import SemscaleError
from semscale.core.wording import printable
from semscale.models import settings

T = TypeVar("T")


class Interrupts:
    """Ctrl-C as the command line handles it: KeyboardInterrupt at once, as Python raises it, and remembered,
    because a library may turn it into an error of its own (DuckDB's Python client raises RuntimeError('Query
    interrupted') for a Ctrl-C during a query) or drop it. A run asks `check` between batches; `interruptible`
    calls an error that follows a Ctrl-C what it is. An ignored SIGINT (nohup, a background job) stays ignored."""

    def __init__(self):
        self.pressed = False

    def listen(self) -> None:
        """From now on remember Ctrl-C (the main thread only: Python takes signals there alone)."""
        self.pressed = False
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._press)

    def _press(self, *_) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """KeyboardInterrupt again if Ctrl-C was pressed: the first may have been lost on its way up."""
        if self.pressed:
            raise KeyboardInterrupt

    def interruptible(self, call: Callable[[], T]) -> T:
        """`call()`, with any error it raises after a Ctrl-C raised as the KeyboardInterrupt it was."""
        try:
            return call()
        except Exception:
            if self.pressed:
                raise KeyboardInterrupt from None
            raise


INTERRUPTS = Interrupts()


def global_options(top: bool) -> argparse.ArgumentParser:
    """--results and --quiet, accepted before or after the command: the subcommands' copies have no
    default, so a value given before the command is kept unless one is given after it."""
    g = argparse.ArgumentParser(add_help=False)
    unset = {} if top else {"default": argparse.SUPPRESS}
    g.add_argument("--results", **({"default": None} | unset),
                   help=f"DuckDB results file (default $SEMSCALE_RESULTS or {paths.DEFAULT_RESULTS})")
    g.add_argument("--quiet", "-q", action="store_true", **({"default": False} | unset),
                   help="no progress bar, notes or lists of left-out files; errors and results only")
    return g


def command(sub, name: str, **kw) -> argparse.ArgumentParser:
    """A command's sub-parser: every command takes the global options."""
    return sub.add_parser(name, parents=[global_options(top=False)], **kw)


def add_backend(p: argparse.ArgumentParser) -> None:
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


def add_model(p: argparse.ArgumentParser, repeatable: bool) -> None:
    from semscale.models import registry

    p.add_argument("--model", action="append" if repeatable else "store", default=None, choices=list(registry.REGISTRY),
                   help="embedded registry model (see `semscale models`; default $SEMSCALE_MODEL or "
                        f"{registry.DEFAULT_MODEL})"
                        + ("; repeat it to run the same experiment on several" if repeatable else ""))


def backend(args, model: str | None = None, typed: bool = True) -> settings.Backend:
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


class FetchBar:
    """A percent bar on stderr for WordNet's one-time download (nothing with --quiet)."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, fraction: float) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=100, unit="%", desc="fetching WordNet once", file=raw(sys.stderr))
        self.bar.update(round(100 * fraction) - self.bar.n)

    def __enter__(self) -> "FetchBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def writing(path) -> Iterator[None]:
    """Writing to `path`, an output the user named: a missing or read-only folder, a folder where a
    file goes or a full disk is one line naming it, not a traceback."""
    try:
        yield
    except OSError as exc:  # pyarrow's IO errors are OSErrors too
        why = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise SemscaleError(f"cannot write {path}: {why}; choose another --out") from None


class Printable:
    """A text stream that writes with control characters and bidi marks escaped (`wording.printable`):
    names and paths come from files and servers, and reach the terminal only through this."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(printable(text, keep="\n\t"))

    def __getattr__(self, name):
        return getattr(self.raw, name)


def raw(stream):
    """The terminal under a `Printable`: progress bars draw with carriage returns of their own."""
    return getattr(stream, "raw", stream)
