"""Who owns a run: the process (pid plus start time, so a reused pid is never taken for it) that claimed
it last, and whether that process is still alive."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone

import psutil

from semscale.core.errors import SemscaleError

START_TOLERANCE = 0.005  # s; psutil's start times come in clock ticks of 0.01 s


class RunOwned(SemscaleError):
    """The run is being processed by another live process."""

    def __init__(self, run_id: str, owner: "Owner | None"):
        who = owner.describe() if owner else "another process"
        super().__init__(f"run {run_id} is being processed by {who}; let it finish or cancel it")


@dataclass(frozen=True)
class Owner:
    """The process working on a run. A pid names the same process only while its start time matches."""

    pid: int
    started: float | None  # psutil create_time(), seconds since the epoch; None in files of schema 1
    host: str | None

    @classmethod
    def me(cls) -> "Owner":
        return cls(os.getpid(), psutil.Process().create_time(), os.uname().nodename)

    def _process(self) -> psutil.Process | None:
        """This owner's process on this host, or None: gone, finished (a zombie), or its pid reused."""
        if self.host != os.uname().nodename or self.started is None:  # schema 1 kept no start time
            return None
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE or abs(process.create_time() - self.started) >= START_TOLERANCE:
                return None
        except psutil.NoSuchProcess:
            return None
        return process

    def alive(self) -> bool:
        """Still running? A process on another host cannot be checked, so it counts as alive."""
        return self.host != os.uname().nodename or self._process() is not None

    def terminate(self) -> bool:
        """SIGTERM this process if it is still the owner; never a stranger that reuses its pid."""
        process = self._process()
        if process is None:
            return False
        try:
            process.terminate()  # psutil refuses if the pid was reused since `process` was looked up
        except psutil.NoSuchProcess:
            return False
        return True

    def describe(self) -> str:
        since = (datetime.fromtimestamp(self.started, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                 if self.started else "an unknown time")
        return f"process {self.pid} on {self.host} (running since {since})"


def owner_of(pid: int | None, started: float | None, host: str | None) -> Owner | None:
    return Owner(pid, started, host) if pid else None

