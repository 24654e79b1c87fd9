"""`python benchmarks/_script_timing.py run app.py ...`: the dashboard as `streamlit run` starts it,
with the server's own account of every script run, one JSON line each in $SCRIPT_TIMING_LOG.

Each line: the session, the page (its title, as the sidebar shows it), whether it was a fragment run
(the Live view's tick) or the whole page, when the rerun request reached the server (the oldest one
not yet taken up), when the script began and ended, and the CPU time the script thread used.
`perf_counter` is the clock, the same one the benchmark reads, so server and browser times line up
(one machine). Used by benchmarks/b6_classroom.py to split a slow page into waiting and running.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import script_runner
from streamlit.web import cli

_LOG = open(os.environ["SCRIPT_TIMING_LOG"], "a", buffering=1)
_WRITE = threading.Lock()
_ASKED: dict[str, float] = {}  # session id -> when its oldest rerun request not yet taken up arrived


def _handle_backmsg(self, msg, _real=AppSession.handle_backmsg):
    if msg.WhichOneof("type") == "rerun_script":
        _ASKED.setdefault(self.id, time.perf_counter())  # a click merged with a later tick counts from the click
    return _real(self, msg)


def _exec(func, ctx, _real=script_runner.exec_func_with_error_handling):
    asked = _ASKED.pop(ctx.session_id, None)
    began, cpu = time.perf_counter(), time.thread_time()
    try:
        return _real(func, ctx)
    finally:
        ended = time.perf_counter()
        page = ctx.pages_manager.get_pages().get(ctx.page_script_hash, {})
        line = {"session": ctx.session_id, "page": page.get("page_name", "?"),
                "fragment": bool(ctx.fragment_ids_this_run),
                "asked": asked, "began": began, "ended": ended, "cpu": time.thread_time() - cpu}
        with _WRITE:
            _LOG.write(json.dumps(line) + "\n")


AppSession.handle_backmsg = _handle_backmsg
script_runner.exec_func_with_error_handling = _exec

if __name__ == "__main__":
    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()
