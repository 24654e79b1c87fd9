"""Mutation testing of the modules that compute published numbers, with mutmut (not run in CI: slow on 2 cores).

mutmut changes one thing at a time in the code (a `<` into `<=`, a `+ 1` into `+ 2`, a constant, a
dropped call) and runs the tests that cover the changed function; a mutant no test notices
"survives" and points at a number nothing checks. Install it in a virtual environment of its own,
which sees the project's packages but keeps mutmut's newer libcst out of the machine's Python:

    python -m venv --system-site-packages .mutmut-venv
    .mutmut-venv/bin/pip install mutmut==3.8.1
    SEMSCALE_DATA_DIR=... .mutmut-venv/bin/python scripts/mutation_test.py [--modules stats compare ...]
        [--only recommend.select name_subsets.Standings.* ...]

The checkout's tracked files are copied to --work (default: a fresh temporary folder), so the tree
you work in is never mutated, and mutmut runs there with a setup.cfg written for the chosen modules
and their fast tests. It prints the score per module and in all (killed / all mutants) and writes
every survivor's diff to WORK/survivors.txt. A second run with the same --work resumes where the
first stopped, with the tests copied afresh; `--only MODULE.FUNCTION` (or MODULE.CLASS.METHOD,
`*` allowed) mutates only those functions, and re-runs them, e.g. after a test was added.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCORING_TESTS = ["tests/test_scoring.py", *(f"tests/test_speed_paths.py::{t}" for t in (
    "test_a_sweep_scores_every_level_as_each_level_alone",
    "test_a_sweep_with_random_cosines_predicts_as_each_level_alone",
    "test_levels_that_extend_no_other_and_uneven_lists_are_scored_alone_correctly",
    "test_a_level_far_below_the_sweeps_best_name_keeps_its_probabilities"))]
# module -> the fast tests that check its numbers (no browser, no dashboard, no subprocess CLI runs)
MODULES = {
    "stats": ["tests/test_threshold.py", "tests/test_scoring.py"],
    "compare": ["tests/test_compare.py"],
    "threshold": ["tests/test_threshold.py"],
    "tables": ["tests/test_analysis.py"],
    "schedule": ["tests/test_labels.py"],
    # the sweep's tests on cosines alone: the engine's (decode, ONNX, stored runs) take minutes per mutant
    "scoring": SCORING_TESTS,
    # the rules themselves (moved out of scoring), and the registry's own tests (a rule added, one refused)
    "aggregations": [*SCORING_TESTS, "tests/test_name_effects.py",
                     *(f"tests/test_designed.py::{t}" for t in ("test_a_registered_aggregation_flows_through_a_run",
                                                                "test_an_unregistered_aggregation_is_refused"))],
    "name_subsets": ["tests/test_name_effects.py", "tests/test_recommend.py"],
    "recommend": ["tests/test_recommend.py"],
    # the Synonyms page's editor rules (name_rows, as_left, ticked) have their fast test beside the workspace's
    "labels": ["tests/test_labels.py", "tests/test_workspace.py::test_the_editor_is_offered_again_as_the_user_left_it"],
    "synonyms": ["tests/test_synonyms.py", "tests/test_labels.py"],
    "commonness": ["tests/test_synonyms.py"],
    # WordNet's sense and insult filters: loads WordNet in every mutant, so run it with --only on a few functions
    "wordnet": ["tests/test_synonyms.py"],
}
# module -> its path in the package, e.g. "stats" -> "core/stats"
WHERE = {p.stem: p.relative_to(ROOT / "semscale").with_suffix("").as_posix()
         for p in (ROOT / "semscale").glob("*/*.py")}
# left out of every run: minutes per mutant. The held-out estimate's test scores 16 recommendations on
# 100,000 fresh images each (90 s on a loaded machine); the engine's tests decode images and run ONNX.
SLOW = ["tests/test_recommend.py::test_held_out_estimate_is_unbiased_where_the_in_sample_one_is_not"]


def copy_checkout(work: Path, under: str = ".") -> None:
    """The tracked files (below `under`) as they are in the working tree (uncommitted edits included)."""
    files = subprocess.run(["git", "ls-files", "-z", under], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src, dst = ROOT / name, work / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def write_config(work: Path, modules: list[str]) -> list[str]:
    tests = sorted({t for m in modules for t in MODULES[m]})
    only = "\n    ".join(f"semscale/{WHERE[m]}.py" for m in modules)
    # the project's addopts print durations; -p no:cacheprovider keeps .pytest_cache out of the copy
    pytest_args = ["-p", "no:cacheprovider", "-o", "addopts=", "-q", *(a for t in SLOW for a in ("--deselect", t))]
    (work / "setup.cfg").write_text(
        "[mutmut]\nsource_paths = semscale/\n"
        f"only_mutate =\n    {only}\n"
        "pytest_add_cli_args_test_selection =\n    " + "\n    ".join(tests) + "\n"
        "pytest_add_cli_args =\n    " + "\n    ".join(pytest_args) + "\n"
        # onnxruntime and DuckDB are not fork-safe after use: fork each mutant from a clean server
        "process_isolation = forkserver\n"
        # mutmut's wall-clock limit is (expected seconds + 1) x this; its default 15 times out mutants
        # whose tests merely fail slowly on a loaded 2-core machine
        "timeout_multiplier = 60\n")
    # mutmut reads [tool.mutmut] from pyproject.toml first; this one has none, so setup.cfg counts
    return tests


def mutant_glob(spec: str) -> str:
    """mutmut's name for the mutants of MODULE.FUNCTION or MODULE.CLASS.METHOD."""
    module, *rest = spec.split(".")
    if module not in MODULES or len(rest) not in (1, 2):
        raise SystemExit(f"--only {spec}: give MODULE.FUNCTION or MODULE.CLASS.METHOD, "
                         f"MODULE one of {', '.join(MODULES)}")
    return (f"semscale.{WHERE[module].replace('/', '.')}.x"
            + ("_" + rest[0] if len(rest) == 1 else "ǁ" + "ǁ".join(rest)) + "__mutmut_*")


def scores(work: Path, modules: list[str]) -> list[str]:
    """One line per module: killed of all mutants, and the rest by status."""
    from mutmut.stats import status_by_exit_code

    lines = []
    for module in modules:
        meta = work / "mutants" / "semscale" / f"{WHERE[module]}.py.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"].values() if meta.exists() else []
        found = Counter(status_by_exit_code[c] for c in codes)
        rest = ", ".join(f"{n} {status}" for status, n in sorted(found.items()) if status != "killed")
        lines.append(f"  {module}: {found['killed']} of {len(codes)} killed" + (f" ({rest})" if rest else ""))
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", nargs="+", choices=sorted(MODULES), default=list(MODULES))
    ap.add_argument("--only", nargs="+", default=[], metavar="MODULE.FUNCTION",
                    help="mutate (again) only these functions of the chosen modules, e.g. recommend.select")
    ap.add_argument("--work", type=Path, help="folder to run in (kept; default: a new temporary folder)")
    ap.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = ap.parse_args()
    try:
        import mutmut  # noqa: F401
    except ImportError:
        print("mutmut is not installed in this Python; see the install lines at the top of this script",
              file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="semscale-mutants-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "mutants").exists():
        copy_checkout(work)
    else:  # resuming: the tests as they are now (mutmut collects the new ones)
        copy_checkout(work, "tests")
    tests = write_config(work, args.modules)
    print(f"mutating {', '.join(args.modules)} in {work}; tests: {' '.join(tests)}", flush=True)
    mutmut = [sys.executable, "-m", "mutmut"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    only = [mutant_glob(spec) for spec in args.only]
    subprocess.run([*mutmut, "run", "--max-children", str(args.max_children), *only], cwd=work, env=env)
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, check=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    survivors = subprocess.run([*mutmut, "results"], cwd=work, env=env, capture_output=True, text=True).stdout
    names = [line.split(":")[0].strip() for line in survivors.splitlines() if line.strip().endswith(": survived")]
    with open(work / "survivors.txt", "w") as out:
        for name in names:
            out.write(subprocess.run([*mutmut, "show", name], cwd=work, env=env, capture_output=True,
                                     text=True).stdout + "\n")
    killed, total = stats.get("killed", 0), stats.get("total", 0)
    print(json.dumps(stats))
    print("\n".join(scores(work, args.modules)))
    print(f"score: {killed} of {total} mutants killed ({killed / max(total, 1):.0%}); "
          f"{len(names)} survived, diffs in {work / 'survivors.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
