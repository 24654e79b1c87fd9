"""Opening a results file for one short transaction at a time, shared with other processes.

DuckDB lets one process hold a database file at a time. Every operation therefore opens the file
(attaches it to the process's DuckDB, see `_Files`), does one short transaction and closes it again,
retrying while another process holds it (`transaction`, raising ResultsBusy after its wait limit).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from semscale.core.errors import SemscaleError


class _Files:
    """One in-memory DuckDB per process, to which results files are attached while in use.

    Starting a DuckDB database costs ~10 ms (its catalog of functions is built each time), twice
    per image batch if every transaction opened the file itself; attaching a file to an instance
    that is already running costs ~1 ms. A file stays attached while any thread of this process
    has a transaction on it and is detached (closed, its lock released) when the last one ends,
    so other processes can open it between transactions as before.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._instance = None
        self._attached: dict[str, list] = {}  # path -> [alias, transactions using it, attached at]
        self._free_until: dict[str, float] = {}  # path -> monotonic time before which it stays detached
        self._aliases = itertools.count()

    def open(self, path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection of its own whose default database is `path` (attached `read_only`, as the
        first transaction of the moment asks); raises DuckDB's errors."""
        while True:
            with self._lock:
                if self._pid != os.getpid():  # a forked child cannot use its parent's instance
                    self._instance, self._pid, self._attached, self._free_until = duckdb.connect(), os.getpid(), {}, {}
                entry = self._attached.get(path)
                wait = 0.0 if entry else self._free_until.get(path, 0.0) - time.monotonic()
                if wait <= 0:
                    if entry is None:
                        quoted = path.replace("'", "''")
                        alias = f"results_{next(self._aliases)}"
                        self._instance.execute(f"ATTACH '{quoted}' AS {alias}{' (READ_ONLY)' if read_only else ''}")
                        entry = self._attached[path] = [alias, 0, time.monotonic()]
                    entry[1] += 1
                    try:
                        con = self._instance.cursor()
                        con.execute(f"USE {entry[0]}")
                    except BaseException:
                        self._release(path)
                        raise
                    return con
            time.sleep(wait)  # the file's turn for other processes (see _release)

    def close(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        with self._lock:
            con.close()
            self._release(path)

    def _release(self, path: str) -> None:
        """Detach the file when its last transaction here ends, and leave it to other processes for
        as long as it was held (at most FREE_TURN): a run that commits back to back would otherwise
        re-attach it before any reader's retry came round."""
        entry = self._attached[path]
        entry[1] -= 1
        if entry[1] == 0:
            del self._attached[path]
            try:
                self._instance.execute(f"DETACH {entry[0]}")
            except duckdb.IOException:  # detached all the same: only the checkpoint into the file failed (a
                pass  # full disk); what was committed is in the write-ahead log, and a write says so when it fails
            now = time.monotonic()
            self._free_until[path] = now + min(now - entry[2], FREE_TURN)


FREE_TURN = 0.02  # s at most that a process leaves a file it just used to other processes
FILES = _Files()
CREATING = threading.Lock()
READY: set[tuple] = set()  # results files (path, device, inode) this process has checked and set up


def identity(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return str(path.resolve()), st.st_dev, st.st_ino


class ResultsBusy(SemscaleError):
    """Another process kept the results file locked for longer than the wait limit."""


@contextmanager
def transaction(path: Path, read_only: bool, wait: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """One short transaction; waits (with backoff) while another process holds the file."""
    deadline = time.monotonic() + wait
    delay = 0.005
    key = str(path.resolve())
    while True:
        try:
            con = FILES.open(key, read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise SemscaleError(f"{path} is not a usable results file: {str(exc).splitlines()[0]}") from None
            if time.monotonic() > deadline:
                raise ResultsBusy(
                    f"results file {path} is busy (another process kept it locked for {wait:g} s); "
                    "retry or use another file"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)  # a writer leaves the file free for a few ms at a time
        except duckdb.Error as exc:
            raise SemscaleError(f"{path} is not a usable results file: {str(exc).splitlines()[0]}") from None
    try:
        con.begin()
        yield con
        con.commit()
    except duckdb.Error as exc:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        if read_only:
            raise SemscaleError(f"results file {path} is read-only; name a writable one with --results "
                                "(or $SEMSCALE_RESULTS)") from None
        # a truncated or damaged file, a full disk (a commit that could not write its log): the user's to fix
        if isinstance(exc, duckdb.IOException) or "Could not write" in str(exc):
            raise SemscaleError(f"results file {path} could not be read or written: "
                                f"{str(exc).splitlines()[0][:200]}") from None
        raise
    except BaseException:
        con.rollback()
        raise
    finally:
        FILES.close(con, key)
