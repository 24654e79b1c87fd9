"""Set semscale up in a virtual environment and start it, or run its test suite: the README's two commands.

    python3 scripts/bootstrap.py start    # install into .venv, then start the dashboard
    python3 scripts/bootstrap.py test     # install the test requirements into .venv, then run ruff and pytest
    python3 scripts/bootstrap.py smoke    # a short check of install, CLI, server and pages (CI, other Pythons)
    python3 scripts/bootstrap.py install  # only install the test requirements (CI prepares a venv early)
    python3 scripts/bootstrap.py clip-server   # the upstream clip-as-service server for the tests, in its own venv

Only the standard library is used here, so any Python 3.11-3.13 can run it, including a system Python that
refuses `pip install` (PEP 668): everything is installed into a virtual environment, the one already active
or `.venv` beside the code (`--venv DIR` and `--python EXE` choose another, e.g. to test another Python).
An install is skipped when the requirement files have not changed since the last one into that environment.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ((3, 11), (3, 12), (3, 13))
SUPPORTED_TEXT = "3.11, 3.12 or 3.13"
# Debian packages the test suite uses where apt-get can install them: a browser for the dashboard
# tests and WordNet's database for the name generators (elsewhere nltk's downloader fetches WordNet).
TEST_APT = {"chromium": Path("/usr/bin/chromium"), "wordnet-base": Path("/usr/share/wordnet/index.noun")}
SMOKE = ["-m", "smoke"]  # tests marked smoke: install, CLI, server, names, pages
# The whole suite in two processes (pytest-xdist); a file's tests stay in one, as they share its servers.
# Most tests wait on subprocesses, servers and a browser, so two cut the suite on two cores from 17 min 16 s
# to 10 min 10 s (CI on a clean clone, 6 Dec 2026).
WORKERS = ["-n", "2", "--dist", "loadfile"]
CLIP_SERVER = "requirements-clip-server.txt"


class SetupError(Exception):
    """One line for the user: what went wrong and what to do."""


def run(*cmd, **kwargs) -> None:
    """Run a step; a failing one ends the set-up with its command named (its own output is above)."""
    done = subprocess.run([str(c) for c in cmd], **kwargs)
    if done.returncode != 0:
        raise SetupError(f"this step failed (exit {done.returncode}): {' '.join(str(c) for c in cmd)}")


def venv_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def python_version(python: Path | str) -> tuple[int, int]:
    out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SetupError(f"{python} does not run: {out.stderr.strip()[:200]}")
    major, minor = map(int, out.stdout.split())
    return major, minor


def environment(args) -> Path:
    """The virtual environment to install into: made when missing, with a clear line when it cannot be."""
    if args.venv is None and args.python is None and sys.prefix != sys.base_prefix:
        return Path(sys.prefix)  # already inside a virtual environment: use it
    env = Path(args.venv or ROOT / ".venv").resolve()
    base = args.python or sys.executable
    if venv_python(env).exists():
        return env
    version = python_version(base)
    if version not in SUPPORTED:
        raise SetupError(f"semscale needs Python {SUPPORTED_TEXT}; {base} is {version[0]}.{version[1]}: "
                         "run this script with a supported python (or give --python EXE)")
    print(f"making a virtual environment in {env} with Python {version[0]}.{version[1]}", flush=True)
    made = subprocess.run([str(base), "-m", "venv", str(env)], capture_output=True, text=True)
    if made.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        hint = ("install Debian's venv support first: sudo apt-get install python3-venv"
                if "ensurepip" in made.stderr + made.stdout else made.stderr.strip().splitlines()[-1:])
        raise SetupError(f"could not make a virtual environment in {env}: {hint}")
    return env


def _stamp(env: Path, requirements: str) -> tuple[Path, str]:
    """Where an install of `requirements` into `env` is recorded, and the digest of what it installed."""
    files = [ROOT / requirements, ROOT / "requirements.txt", ROOT / "pyproject.toml"]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files) + str(ROOT).encode()).hexdigest()
    return env / f".semscale-{Path(requirements).stem}", digest


def install(env: Path, requirements: str) -> None:
    """pip install the requirement file and semscale itself (editable), unless nothing changed since this
    file, or requirements-dev.txt (which includes requirements.txt), was installed."""
    for done in {requirements, "requirements-dev.txt"}:
        stamp, digest = _stamp(env, done)
        if stamp.is_file() and stamp.read_text() == digest:
            return
    print(f"installing {requirements} into {env} (a few minutes the first time)", flush=True)
    run(venv_python(env), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", ROOT / requirements,
        "-e", ROOT)
    stamp, digest = _stamp(env, requirements)
    stamp.write_text(digest)


def test_packages(env: Path) -> None:
    """What the tests need outside pip: Debian's chromium and wordnet-base where apt-get works as root;
    elsewhere WordNet from nltk's downloader into the environment (a browser is the user's to install)."""
    missing = [name for name, path in TEST_APT.items() if not path.exists()]
    if missing and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", *missing, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL)
    python = venv_python(env)
    found = subprocess.run([python, "-c", "from semscale.names import wordnet; print(wordnet.find() or '')"],
                           capture_output=True, text=True, cwd=ROOT)
    if not found.stdout.strip():
        run(python, "-m", "nltk.downloader", "-d", env / "nltk_data", "wordnet")


def cache_dir() -> Path:
    """Where semscale keeps what outlives a clone: $SEMSCALE_CACHE, else $XDG_CACHE_HOME/semscale or
    ~/.cache/semscale."""
    if os.environ.get("SEMSCALE_CACHE"):
        return Path(os.environ["SEMSCALE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semscale"


def clip_server_env(base: str | None = None) -> Path:
    """The venv with upstream clip_server (requirements-clip-server.txt, requirements.txt as constraints),
    made once per content of both files and Python version (~/.cache/semscale/clip-server-<hash>), outside
    the clone so every clone and CI run reuses it. It cannot share semscale's venv: clip-server and
    open_clip_torch pin docarray and protobuf against the project's pins, so they go in with --no-deps.
    Another process making the same venv is waited for; a failed install raises SetupError."""
    base = base or sys.executable
    version = python_version(base)
    spec, pins = (ROOT / CLIP_SERVER).read_text(), (ROOT / "requirements.txt").read_text()
    digest = hashlib.sha256(f"{spec}\0{pins}\0{version}".encode()).hexdigest()[:12]
    env = cache_dir() / f"clip-server-{digest}"
    stamp = env / ".semscale-clip-server"
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / f".clip-server-{digest}.lock", "w") as lock:
        if os.name != "nt":
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # held until the install is done or failed
        if stamp.is_file():
            return env
        shutil.rmtree(env, ignore_errors=True)  # a half-made one from an interrupted install
        entries = [(line.split("#")[0].strip(), line.rstrip().endswith("# no-deps")) for line in spec.splitlines()]
        print(f"making the clip-server venv {env} (several minutes and ~6 GB the first time)", flush=True)
        run(base, "-m", "venv", env)
        python = venv_python(env)
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-c", ROOT / "requirements.txt"]
        run(*pip, *[req for req, bare in entries if req and not bare])
        run(*pip, "--no-deps", *[req for req, bare in entries if bare])
        run(python, "-c", "import clip_server.executors.clip_onnx")  # torch, torchvision, open_clip load together
        stamp.write_text(digest)
    return env


def data_dir() -> dict[str, str]:
    """The real photo sets beside the checkout (../shared/datasets) unless SEMSCALE_DATA_DIR says otherwise."""
    shared = ROOT.parent / "shared" / "datasets"
    if not os.environ.get("SEMSCALE_DATA_DIR") and shared.is_dir():
        return {"SEMSCALE_DATA_DIR": str(shared)}
    return {}



def lint_check(python: Path) -> int:
    """ruff over the whole checkout with the rules in pyproject.toml; its findings are printed and fail the
    test command, but the tests still run, so one run shows both."""
    print("checking the code with ruff (rules and line length in pyproject.toml)", flush=True)
    found = subprocess.call([str(python), "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT)
    if found:
        print("ruff found the problems above (`ruff check --fix .` fixes some); the tests run anyway", flush=True)
    return found

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bootstrap.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "test", "smoke", "install", "clip-server"])
    parser.add_argument("--venv", type=Path,
                        help="the virtual environment to use (default: the active one, else .venv)")
    parser.add_argument("--python", help="the Python to make a new environment with (default: this one)")
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "clip-server":
            print(venv_python(clip_server_env(args.python)))
            return 0
        env = environment(args)
        python = venv_python(env)
        if args.command == "start":
            install(env, "requirements.txt")
            print("starting the dashboard: open the address Streamlit prints (Ctrl-C stops it)", flush=True)
            command = [str(python), "-m", "streamlit", "run", str(ROOT / "app.py"), *rest]
            os.chdir(ROOT)
            if os.name == "nt":  # Windows' exec starts a new process and returns at once
                return subprocess.call(command)
            os.execv(command[0], command)  # the dashboard takes this process's place (Ctrl-C, signals)
        install(env, "requirements-dev.txt")
        if args.command == "install":
            return 0
        test_packages(env)
        smoke = args.command == "smoke"
        chose_workers = any(a.startswith(("-n", "--numprocesses")) for a in rest)
        tests = SMOKE if smoke else [] if chose_workers else WORKERS
        lint = 0 if smoke else lint_check(python)
        print(f"running the {'smoke ' if smoke else ''}tests with Python {'.'.join(map(str, python_version(python)))} "
              f"in {env}", flush=True)
        tested = subprocess.call([str(python), "-m", "pytest", *tests, *rest], cwd=ROOT,
                                 env={**os.environ, **data_dir()})
        return tested or lint
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
