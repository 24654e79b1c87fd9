"""B6: a classroom. B6_SESSIONS (default 20) browser sessions each start a run on cifar10-1k at once.

One Streamlit server (`streamlit run app.py`, the tiny test model as SEMSCALE_MODEL_DIR, a fresh
results file and home folder) and one Chromium driven by Playwright with one browser context per
student. All students open the dashboard together, pick cifar10-1k on the Data page and open the Run
page; then they all press Start together (a click whose answer does not come is clicked again, and
counted: see `go`). Runs go through the run queue (semscale.store.runqueue,
SEMSCALE_MAX_RUNS, default the CPU count). While they work, the students keep going back and forth
between the Data and Run pages: the time from clicking "Run" to the run's status line being shown
is the render time reported (median, p95, max). Beside it, the same renders read off the page's
websocket (`Wire`): from the click's rerun request leaving the browser to the server's "script
finished" for the whole page (which comes after the status line, the page going on below it), so
the time before the request left is this machine's Chromium, which in a real classroom runs on
each student's own computer. The server's own account of the same pages comes from
benchmarks/_script_timing.py (which starts the dashboard): when each Run page request reached the
server, when its script began and ended, and its CPU. The benchmark holds every run slot from before
the Start presses until each page has shown its own run's place in line ("queued: 5th of 20", checked
against the queue's line), so that check waits for an event, not a race with the runs starting; the
times of the runs are from the slots' release. Every other queue place a page shows is recorded.
At the end every run must be done, its predictions identical to a lone run of the same settings in
another results file, and the shared results file must hold exactly one prediction per image and
level (no corruption).

    python benchmarks/b6_classroom.py                      # B6_SESSIONS=4 SEMSCALE_MAX_RUNS=2 for a quick look
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import time

import _common as C
from playwright.async_api import TimeoutError as PlaywrightTimeout

from semscale.models.encoders import LocalEncoder
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store import runqueue
from semscale.store.results import ResultsStore

SESSIONS = int(os.environ.get("B6_SESSIONS", "20"))
DATASET = "cifar10-1k"
CHROMIUM = "/usr/bin/chromium"
# The CPUs the students' Chromium may use once all have pressed Start (a `taskset` list, or "all").
# In a real classroom each student's own computer renders their page; B6_BROWSER_CPUS=1 keeps this
# one shared browser off the first core while the runs go on. (Niceness would not do: Chromium,
# running as root here, sets its processes' priorities itself; pinned from the start on one of 2
# cores, 20 students could not all open the page within 120 s.)
BROWSER_CPUS = os.environ.get("B6_BROWSER_CPUS", "all")
TIMEOUT = float(os.environ.get("B6_TIMEOUT", "1800"))  # s for all runs to finish


class Wire:
    """A page's Streamlit websocket as seen by the browser: when each full-page rerun request went out
    and when each full script run's "finished" came back (Live ticks, which are fragment runs, apart)."""

    def __init__(self, page):
        self.sent: list[float] = []
        self.finished: list[float] = []
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        def sent(payload) -> None:
            if isinstance(payload, bytes):
                msg = BackMsg.FromString(payload)
                if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
                    self.sent.append(time.perf_counter())

        def received(payload) -> None:
            if isinstance(payload, bytes):
                msg = ForwardMsg.FromString(payload)
                if msg.WhichOneof("type") == "script_finished" and \
                        msg.script_finished == ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY:
                    self.finished.append(time.perf_counter())
        ws.on("framesent", sent)
        ws.on("framereceived", received)

    async def page_time(self, clicked: float, wait: float = 30.0) -> float | None:
        """Seconds from the first rerun request after `clicked` to the first full run finished after it
        (which may come after the status line is shown: the page's end is still on its way)."""
        for _ in range(int(wait / 0.05)):
            request = next((t for t in self.sent if t >= clicked), None)
            done = next((t for t in self.finished if request is not None and t >= request), None)
            if done is not None:
                return done - request
            await asyncio.sleep(0.05)
        return None


def serve(tmp, model, env_extra: dict) -> tuple[subprocess.Popen, str]:
    """The dashboard, with the server's account of each script run in tmp/script-runs.jsonl (`server_runs`)."""
    from dashboard_server import start_dashboard

    env = dict(os.environ, SEMSCALE_MODEL_DIR=str(model), SEMSCALE_RESULTS=str(tmp / "class.duckdb"),
               SEMSCALE_HOME=str(tmp / "home"), SEMSCALE_DATA_DIR=str(C.data_dir()), PYTHONPATH=str(C.ROOT),
               SCRIPT_TIMING_LOG=str(tmp / "script-runs.jsonl"), **env_extra)
    return start_dashboard(env, tmp / "streamlit.log",
                           launcher=(str(C.ROOT / "benchmarks" / "_script_timing.py"), "run", "app.py"))


def server_runs(tmp, since: float, page: str) -> dict[str, list[float]]:
    """The server's side of `page`'s whole-page runs that began after `since` (benchmarks/_script_timing.py):
    answered (request arrived -> script ended), of which waiting (-> script began), running (script
    began -> ended, also for runs nobody asked for: a rerun the page itself asked for), its CPU; and how
    many runs of any page (ticks included) the server was in the middle of when each began."""
    runs = [json.loads(line) for line in (tmp / "script-runs.jsonl").read_text().splitlines()]
    mine = [r for r in runs if r["page"] == page and not r["fragment"] and r["began"] >= since]
    return {"answered": [r["ended"] - r["asked"] for r in mine if r["asked"] is not None],
            "waiting": [r["began"] - r["asked"] for r in mine if r["asked"] is not None],
            "running": [r["ended"] - r["began"] for r in mine], "cpu": [r["cpu"] for r in mine],
            "beside": [sum(o["began"] <= r["began"] < o["ended"] for o in runs) - 1 for r in mine],
            "all_runs": [sum(o["began"] >= since for o in runs)],
            "all_cpu": [sum(o["cpu"] for o in runs if o["began"] >= since)]}


TRIES = 5  # a click not answered in WAIT is clicked again, and counted: a slow page, or a click lost when
# its rerun merged with a Live tick's (Streamlit 1.56 turns a pending full rerun into a fragment run)
WAIT = 60_000  # ms for a click's answer before it counts as lost


async def go(page, link: str, shown, retries: list) -> float:
    """Click the sidebar link; seconds until `shown` (a locator on that page) is visible."""
    t = time.perf_counter()
    for attempt in range(TRIES):
        await page.get_by_role("link", name=link, exact=True).click()
        try:
            await shown.first.wait_for(timeout=WAIT)
            return time.perf_counter() - t
        except PlaywrightTimeout:
            retries.append(f"{link} link try {attempt + 1}")
    raise RuntimeError(f"the {link} page did not open in {TRIES} clicks")


async def pick_dataset(page, retries: list) -> None:
    """Pick DATASET on the Data page, see it listed there, and open the Run page with its Start button."""
    await go(page, "Data", page.get_by_role("button", name="Use this dataset"), retries)
    for attempt in range(TRIES):  # a list opened while the page still redraws closes again: open it again
        await page.get_by_test_id("stSelectbox").first.click()
        try:
            await page.get_by_role("option", name=re.compile(re.escape(DATASET))).click(timeout=WAIT)
            break
        except PlaywrightTimeout:
            retries.append(f"dataset list try {attempt + 1}")
    else:
        raise RuntimeError(f"the dataset list did not open in {TRIES} clicks")
    await page.get_by_role("button", name="Use this dataset").click()
    await page.get_by_text(re.compile(re.escape(DATASET) + r": 1,000 images")).wait_for(timeout=WAIT)
    await go(page, "Run", page.get_by_role("button", name="Start"), retries)


async def press_start(page, retries: list) -> str:
    """Press Start; the run's id from the page's answer (pressed again if the click was lost)."""
    for attempt in range(TRIES):
        await page.get_by_role("button", name="Start").click()
        try:
            answer = page.get_by_text(re.compile(r"Started run \w{10}"))
            await answer.wait_for(timeout=WAIT)
            return re.search(r"Started run (\w{10})", await answer.inner_text()).group(1)
        except PlaywrightTimeout:
            retries.append(f"Start try {attempt + 1}")
    raise RuntimeError(f"Start was not answered in {TRIES} tries")


PLACE = re.compile(r"queued: \d+\w\w of \d+")
PLACE_WAIT = 120.0  # s for every page to show its own place in line while the slots are held


def hold_slots(home, capacity: int) -> list[int]:
    """Takes every slot of the dashboard's run queue (semscale.store.runqueue's lock files under `home`),
    so every run started waits in line until `release`: the pages' places in line are then not a race
    with the runs starting."""
    (home / "slots").mkdir(parents=True, exist_ok=True)
    held = [runqueue._try_lock(home / "slots" / f"slot-{i}") for i in range(capacity)]
    assert None not in held, "a run slot was already taken"
    return held


def release(held: list[int]) -> None:
    for fd in held:
        os.close(fd)


async def line_of(home, n: int) -> list[str]:
    """The run ids in line, first first, once all `n` have their ticket in it (runqueue: by Start's time)."""
    for _ in range(int(PLACE_WAIT / 0.2)):
        tickets = sorted(t.name for t in (home / "slots" / "line").glob("*-*"))
        if len(tickets) == n:
            return [t.split("-", 1)[1] for t in tickets]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(tickets)} of {n} runs in line after {PLACE_WAIT:.0f} s")


async def own_place(page, run_id: str, want: tuple[int, int]) -> str:
    """The place in line the page shows under its own run's status line, once it is `want` (position,
    waiting): a page redraws a queued run every few seconds (ui.IDLE_EVERY) and may show the line of
    a moment before; one still wrong after PLACE_WAIT is a wrong place."""
    mine = re.compile(rf"Run {run_id} · \S+ · status queued\s+({PLACE.pattern})")
    shown = None
    for _ in range(int(PLACE_WAIT / 0.5)):
        if m := mine.search(await page.inner_text("body")):
            shown = m.group(1)
            if tuple(map(int, re.findall(r"\d+", shown))) == want:
                return shown
        await asyncio.sleep(0.5)
    raise AssertionError(f"run {run_id} is {want[0]} of {want[1]} in line, its page showed {shown!r}")


async def student(page, wire: Wire, run_id: str, t0: float, out: dict) -> None:
    """Go back and forth between the Data and Run pages (a second's pause each) until the own run ends;
    the render time is from clicking the Run link to the run's status line being shown, beside it
    the same render on the wire."""
    statuses = out["statuses"]
    status_line = page.get_by_text(re.compile(r"status (queued|running|done|cancelled|failed|interrupted)"))
    while statuses.get(run_id) not in ("done", "failed", "cancelled"):
        assert time.perf_counter() - t0 < TIMEOUT, statuses
        await go(page, "Data", page.get_by_text("Source"), out["retries"])
        clicked = time.perf_counter()
        out["renders"].append(await go(page, "Run", status_line, out["retries"]))
        if (on_wire := await wire.page_time(clicked)) is not None:
            out["wire"].append(on_wire)
        text = await page.inner_text("body")
        if m := re.search(rf"Run {run_id} · \S+ · status (\w+)", text):
            statuses[run_id] = m.group(1)
        if m := PLACE.search(text):
            out["places"].add(m.group(0))
        await asyncio.sleep(1.0)


def retried(retries: list[str]) -> str:
    """'3 (Run link try 1 x2, Data link try 1)': how many clicks were done again, and which."""
    kinds = {r: retries.count(r) for r in dict.fromkeys(retries)}
    return f"{len(retries)}" + (" (" + ", ".join(k + (f" x{n}" if n > 1 else "") for k, n in kinds.items()) + ")"
                                if kinds else "")


def cpu_seconds(server: int) -> dict[str, float]:
    """CPU time used so far by the Streamlit server process itself and by this machine's Chromium
    (one browser for all students: in a real classroom each student's own computer does that part)."""
    import psutil

    def used(p: psutil.Process) -> float:
        try:
            t = p.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0
    chromium = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]
    return {"server": used(psutil.Process(server)), "chromium": sum(map(used, chromium))}


def pin_browser() -> None:
    """Every thread of this machine's Chromium (started by this process) onto BROWSER_CPUS."""
    import psutil

    if BROWSER_CPUS != "all":
        for p in psutil.Process().children(recursive=True):
            if "chrom" in p.name().lower():
                subprocess.run(["taskset", "-a", "-p", "-c", BROWSER_CPUS, str(p.pid)], check=True,
                               stdout=subprocess.DEVNULL)


async def classroom(url: str, server: int, home, capacity: int) -> dict:
    """All students open the dashboard and pick the dataset together, then all press Start together
    while the benchmark holds every run slot (`hold_slots`) until each page has shown its run's place in line."""
    from playwright.async_api import async_playwright

    out = {"renders": [], "wire": [], "places": set(), "statuses": {}, "retries": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        pages = [await (await browser.new_context(viewport={"width": 1200, "height": 900})).new_page()
                 for _ in range(SESSIONS)]
        wires = [Wire(page) for page in pages]
        for page in pages:
            page.set_default_timeout(120_000)
        t = time.perf_counter()
        await asyncio.gather(*(page.goto(url) for page in pages))
        await asyncio.gather(*(pick_dataset(page, out["retries"]) for page in pages))
        out["setup_s"] = time.perf_counter() - t
        held = hold_slots(home, capacity)
        try:
            t = time.perf_counter()
            run_ids = await asyncio.gather(*(press_start(page, out["retries"]) for page in pages))
            out["pressed_s"] = time.perf_counter() - t
            pin_browser()
            line = await line_of(home, SESSIONS)
            out["own_places"] = await asyncio.gather(*(own_place(page, r, (line.index(r) + 1, SESSIONS))
                                                       for page, r in zip(pages, run_ids, strict=True)))
            out["held_s"] = time.perf_counter() - t
        finally:
            release(held)
        out["places"].update(out["own_places"])
        t0, cpu0 = time.perf_counter(), cpu_seconds(server)
        out["t0"] = t0
        await asyncio.gather(*(student(page, wire, r, t0, out)
                               for page, wire, r in zip(pages, wires, run_ids, strict=True)))
        out["total_s"] = time.perf_counter() - t0
        out["cpu"] = {k: v - cpu0[k] for k, v in cpu_seconds(server).items()}
        out["run_ids"] = run_ids
        await browser.close()
    return out


def p95(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.95 * len(values)))]


def spread(values: list[float], what: str) -> str:
    return f"{statistics.median(values):.2f} / {p95(values):.2f} / {max(values):.2f} s ({len(values)} {what})"


def main() -> None:
    os.environ["SEMSCALE_DATA_DIR"] = str(C.data_dir())  # the lone run below reads the same copy as the server
    tmp = C.tempdir("b6")
    model, model_note = C.model_dir(tmp)
    capacity = os.environ.get(runqueue.ENV) or str(os.cpu_count())
    proc, url = serve(tmp, model, {runqueue.ENV: capacity})
    print(f"machine: {C.machine()}")
    print(f"model: {model_note}; {SESSIONS} browser sessions (Chromium on CPUs {BROWSER_CPUS} of "
          f"{os.cpu_count()} once Start is pressed; the server on all, its runs at nice {runqueue.NICENESS}), "
          f"dataset {DATASET}, at most {capacity} runs at once")
    try:
        seen = asyncio.run(classroom(url, proc.pid, tmp / "home", int(capacity)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load = os.getloadavg()
    renders, places, run_ids = sorted(seen["renders"]), seen["places"], seen["run_ids"]

    store = ResultsStore(tmp / "class.duckdb")
    runs = {r.run_id: r for r in store.runs()}
    ids = sorted(set(run_ids))
    assert len(ids) == SESSIONS and all(runs[r].status == "done" for r in ids), {r: runs[r].status for r in ids}
    configs = [json.loads((tmp / "home" / "jobs" / f"{r}.json").read_text()) for r in ids]
    assert all(c == configs[0] for c in configs)
    lone = ResultsStore(tmp / "lone.duckdb")
    lone_id = Engine(lone, LocalEncoder(model)).run(RunConfig.from_dict(configs[0]))
    want = lone.predictions(lone_id)
    identical = sum(store.predictions(r).equals(want) for r in ids)
    counts = [len(store.predictions(r)) for r in ids]
    points_ok = all((store.points(r)["n_images"] == runs[r].n_images).all() for r in ids)
    assert identical == SESSIONS and points_ok and len(set(counts)) == 1, (identical, counts)

    on_wire = sorted(seen["wire"]) or [float("nan")]
    server = server_runs(tmp, seen["t0"], "Run")
    print()
    print(C.table(["measure", "value"], [
        ["sessions / runs done", f"{SESSIONS} / {sum(runs[r].status == 'done' for r in ids)}"],
        ["all students opened the page and picked the dataset within", f"{seen['setup_s']:.0f} s"],
        ["all Start buttons pressed (together) and answered within", f"{seen['pressed_s']:.1f} s"],
        ["clicks not answered within 60 s, so clicked again", retried(seen['retries'])],
        ["every page showed its own run's place in line (all slots held until then), after the Start presses",
         f"{seen['held_s']:.1f} s: " + "; ".join(sorted(seen["own_places"], key=lambda s: int(s.split()[1][:-2])))],
        ["last run done after the slots were released", f"{seen['total_s']:.0f} s"],
        ["runs identical to a lone run (predictions)", f"{identical} of {SESSIONS}"],
        ["predictions per run (all equal, one per image and level)", f"{counts[0]}"],
        ["Run page render, click to status line: median / p95 / max", spread(renders, "renders")],
        ["Run page on the wire: rerun request sent to the whole page's script finished, median / p95 / max",
         spread(on_wire, f"of the {len(renders)} renders, seen on the wire")],
        ["the Run page in the server: request arrived to script ended, median / p95 / max",
         spread(server["answered"], "whole-page runs asked for")],
        ["  request arrived to script began, median / p95 / max",
         spread(server["waiting"], "whole-page runs asked for")],
        ["  script began to script ended, median / p95 / max", spread(server["running"], "whole-page runs")],
        ["  of which the script thread's CPU, median / p95 / max", spread(server["cpu"], "whole-page runs")],
        ["  other script runs going on in the server as one began, median / max",
         f"{statistics.median(server['beside']):.0f} / {max(server['beside'])}"],
        ["all script runs in the server after Start (Live ticks included): CPU",
         f"{server['all_cpu'][0]:.1f} s in {server['all_runs'][0]} runs"],
        ["CPU while the runs went on: Streamlit server / Chromium (all students)",
         f"{seen['cpu']['server']:.0f} s / {seen['cpu']['chromium']:.0f} s "
         f"of {os.cpu_count() * seen['total_s']:.0f} core-s"],
        ["load average (1 / 5 / 15 min) at the end", " / ".join(f"{x:.1f}" for x in load)],
        ["queue places seen (examples)",
         "; ".join(sorted(places, key=lambda s: int(re.search(r"\d+", s).group()))[:6])],
    ], "Classroom:"))
    print(f"B6 classroom: {SESSIONS} sessions, {identical}/{SESSIONS} runs identical to a lone run, "
          f"done in {seen['total_s']:.0f} s; "
          f"Run page render p95 {p95(renders):.2f} s (median {statistics.median(renders):.2f} s), "
          f"on the wire (request sent to page finished) p95 "
          f"{p95(on_wire):.2f} s (median {statistics.median(on_wire):.2f} s), "
          f"in the server (request arrived to script ended) p95 "
          f"{p95(server['answered']):.2f} s (median {statistics.median(server['answered']):.2f} s), "
          f"at most {capacity} runs at once")


if __name__ == "__main__":
    main()
