"""Ctrl-C on the command line is an interrupt, whatever a library made of it (semscale.app.cli.common.Interrupts)."""

import contextlib
import os
import signal
import threading
import time

import pytest
from conftest import make_colour_images

from semscale.app import cli
from semscale.app.cli import common
from semscale.store.results import ResultsStore


@pytest.fixture
def interrupts():
    """A fresh Interrupts listening in this process; SIGINT's handler is put back afterwards."""
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    watch = common.Interrupts()
    watch.listen()
    yield watch
    signal.signal(signal.SIGINT, before)


def not_interrupted(interrupts) -> None:
    """`check` passes; a KeyboardInterrupt would stop pytest itself, so it is a failure here."""
    try:
        interrupts.check()
    except KeyboardInterrupt:
        pytest.fail("check() raised KeyboardInterrupt with no Ctrl-C pressed since listen()")


def ctrl_c():
    """Ctrl-C, as the terminal sends it, arriving while this process sleeps."""
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    pytest.fail("SIGINT did not interrupt the sleep")


def library_turning_ctrl_c_into_its_own_error():
    """What DuckDB's Python client does with a Ctrl-C during a query."""
    try:
        ctrl_c()
    except KeyboardInterrupt:
        raise RuntimeError("Query interrupted") from None


def test_a_ctrl_c_a_library_turned_into_its_own_error_is_still_an_interrupt(interrupts):
    with pytest.raises(KeyboardInterrupt):
        interrupts.interruptible(library_turning_ctrl_c_into_its_own_error)


def test_an_error_without_a_ctrl_c_is_itself(interrupts):
    def fails():
        raise RuntimeError("a real failure")

    with pytest.raises(RuntimeError, match="a real failure"):
        interrupts.interruptible(fails)
    not_interrupted(interrupts)


def test_a_ctrl_c_a_library_dropped_stops_at_the_next_check(interrupts):
    with contextlib.suppress(KeyboardInterrupt):  # a library that swallows it
        ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()
    interrupts.listen()  # the next command starts afresh
    not_interrupted(interrupts)


def test_an_ignored_ctrl_c_stays_ignored():
    """`semscale run ... &` from a script, or under nohup: the shell ignores SIGINT for it, and so does semscale."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        common.Interrupts().listen()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.fixture
def signals_put_back():
    """A command run in this process takes SIGINT and SIGTERM; they are given back afterwards."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_a_run_whose_ctrl_c_was_lost_stops_after_its_batch_and_says_how_to_finish_it(
        tmp_path, model_dir, capsys, signals_put_back):
    """The run's loop asks between batches: a Ctrl-C whose KeyboardInterrupt a library dropped (here: pressed
    with no exception at all, from another thread) still stops it, as an interrupt, with its resume command."""
    photos = make_colour_images(tmp_path / "many", per_class=50)
    for attempt in range(3):  # a run that finished before the press is started again, in a new file
        db, pressed_at = tmp_path / f"r{attempt}.duckdb", []

        def press_once_committed(db=db, pressed_at=pressed_at):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                runs = ResultsStore(db).runs() if db.exists() else []
                if runs and runs[0].n_done:
                    common.INTERRUPTS.pressed = True  # what `_press` remembers; its exception is lost
                    pressed_at.append(runs[0].n_done)
                    return
                time.sleep(0.02)

        presser = threading.Thread(target=press_once_committed, daemon=True)
        presser.start()
        code = cli.main(["--results", str(db), "run", "--dataset", str(photos), "--local", str(model_dir),
                         "--batch-size", "2", "-q"])
        presser.join(5)
        run = ResultsStore(db).runs()[0]
        assert pressed_at, "never pressed"
        if pressed_at[0] < run.n_images:
            break
    else:
        pytest.fail("the run finished three times before the press")
    err = capsys.readouterr().err
    assert code == 130, err
    assert err.strip().splitlines()[-1] == f"interrupted; finish it with: python -m semscale --results {db} resume " \
        f"{run.run_id}", err
    assert (run.status, 0 < run.n_done < run.n_images) == ("interrupted", True)
