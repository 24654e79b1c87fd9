"""The dashboard's run queue: at most `capacity()` runs work at once on this machine, the rest wait in line.

Twenty students pressing Start together would otherwise start twenty processes on two cores. A
run started by the dashboard (`jobs.start`) is registered as 'queued' and its process waits here
for a slot before it claims the run. Slots are N lock files under `data_home()/slots`, held with
fcntl.flock while a run works; a waiting process holds a ticket file (also flock'd) in
`slots/line`, named by its arrival time, which gives its place in line. The kernel drops a
process's locks when it dies, so a killed run never keeps a slot, and a ticket nobody holds is
a dead waiter's: whoever finds it removes it. SIGTERM (the Cancel button) while waiting leaves
the line and records the runs as cancelled. A waiting process holds no model in memory: an embedded
model's sessions are created by its first encode, after the slot is granted (`LocalEncoder`). Queued
runs work at a lower CPU priority (NICENESS) from their process's first line, setting up included,
so the pages of the dashboard that started them stay responsive on a machine whose cores the runs fill.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from semscale.core import paths

if TYPE_CHECKING:  # not imported here: a queued process yields the CPU before its heavy imports (`yield_cpu`)
    from semscale.store.results import ResultsStore

ENV = "SEMSCALE_MAX_RUNS"  # how many runs work at once (default: the number of CPUs)
QUEUED_ENV = "SEMSCALE_QUEUED"  # set by jobs.start to the time Start was pressed (ns): wait in line
POLL = 0.2  # s between looks at the line and the slots
NICENESS = 10  # a dashboard's run yields the CPU to the dashboard, whose pages then answer while runs work


def capacity() -> int:
    return max(1, int(os.environ.get(ENV) or os.cpu_count() or 1))


def queued() -> bool:
    """Whether this process was started to wait in line (by the dashboard)."""
    return bool(os.environ.get(QUEUED_ENV))


def yield_cpu() -> None:
    """A run started by the dashboard works at NICENESS from its first line (`python -m semscale`):
    twenty processes importing, listing and registering their runs at once would otherwise take the
    cores from the pages that started them."""
    if queued():
        os.nice(NICENESS)


def _folder(*parts: str) -> Path:
    folder = paths.data_home().joinpath("slots", *parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding `path`'s exclusive lock, or None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:
        os.close(fd)
        return None


def _line() -> list[Path]:
    """Live tickets in arrival order; a ticket nobody holds (its waiter died) is removed."""
    alive = []
    for ticket in sorted(_folder("line").iterdir()):
        fd = _try_lock(ticket)
        if fd is None:
            alive.append(ticket)
            continue
        ticket.unlink(missing_ok=True)
        os.close(fd)
    return alive


@dataclass(frozen=True)
class Place:
    position: int  # 1 = next to start
    waiting: int

    def __str__(self) -> str:
        n = self.position
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"queued: {n}{suffix} of {self.waiting}"


def place(run_id: str) -> Place | None:
    """Where `run_id` waits in line; None when it is not waiting (working, finished, or never queued)."""
    line = _line()
    mine = [i for i, t in enumerate(line) if t.name.split("-", 1)[1] == run_id]
    return Place(mine[0] + 1, len(line)) if mine else None


@contextmanager
def turn(store: "ResultsStore", run_ids: list[str]) -> Iterator[bool]:
    """Hold a slot while the block works on `run_ids`; yields at once (True) unless `queued()`.

    Waits in line first: a process takes a free slot only while it is among the first
    `capacity()` waiters, so runs start in the order they were queued. Yields False when SIGTERM
    came while waiting: the runs are then recorded as cancelled and nothing else is done.
    """
    if not queued():
        yield True
        return
    stop = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    name = f"{int(os.environ[QUEUED_ENV]):020d}-{run_ids[0]}"  # in line by when Start was pressed
    ticket_fd = _try_lock(_folder("new") / name)  # locked before it enters the line: never taken for a dead one's
    ticket = _folder("line") / name
    os.rename(_folder("new") / name, ticket)
    slot_fd = None
    try:
        while slot_fd is None and not stop:
            line = _line()
            if ticket in line[: capacity()]:
                slot_fd = next((fd for i in range(capacity())
                                if (fd := _try_lock(_folder() / f"slot-{i}")) is not None), None)
            if slot_fd is None:
                time.sleep(POLL)
    finally:
        ticket.unlink(missing_ok=True)
        os.close(ticket_fd)
        signal.signal(signal.SIGTERM, previous)
    if stop:
        if slot_fd is not None:
            os.close(slot_fd)
        for run_id in run_ids:
            store.finish_run(run_id, "cancelled", "cancelled while queued")
        yield False
        return
    try:
        yield True
    finally:
        os.close(slot_fd)
