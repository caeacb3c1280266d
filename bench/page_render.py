"""Page render time in a real browser: every page of the app, cold (first visit) and warm.

A real ``streamlit run app.py`` (one added task, the real backbone, one thread) driven by
Playwright with Debian's Chromium; one visit is a full page load until the page's markers are
visible and its script run is over. Setup, visits and the 3 s target: bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.common import (
    REPO_ROOT,
    csv_rows,
    limit_threads,
    loadavg,
    logger,
    records_table,
    settings,
    stopwatch,
    write_results,
)
from gate_core.paths import DEFAULT_BACKBONE

NAME = "page_render"
DESCRIPTION = "browser render time of every app page on a warm streamlit server (cold first visits reported apart); target < 3 s warm"
TARGET_SECONDS = 3.0
PAUSE_SECONDS = 0.5  # between visits
STARTUP_TIMEOUT = 120.0  # seconds for the server to answer its health check
WORK_DIR = REPO_ROOT / "bench" / "work"
LOG_PATH = WORK_DIR / "page_render_server.log"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # also the browser tests' (tests/e2e/conftest.py)
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]
VIEWPORT = [1280, 900]
TASK_NAME = "target_tiny"

PLOT, LINK, FRAME = ".js-plotly-plot", '[data-testid="stPageLink"]', '[data-testid="stDataFrame"]'
UPLOAD, INFO = '[data-testid="stFileUploader"]', '[data-testid="stAlertContentInfo"]'
#: page → its markers: a CSS selector, and optionally a text one of its matches must contain, that
#: has to be visible; the title first, the page's last element last. The URL path is the name.
MARKERS = {
    "Home": [("h1", "GATE Studio"), (FRAME,), ("h2", "Next steps"), (LINK, "Tasks")],
    "Add a task": [("h1", "Add a task"), (UPLOAD,), (INFO, "Upload a file")],
    "Transfer ratios": [("h1", "Transfer ratios"), (PLOT, "Transfer ratios")]
    + [(PLOT, "Transfer-ratio trajectory"), (PLOT, "added tasks × sources")],
    "Latent space": [("h1", "Latent space"), (PLOT, "UMAP of the common chart")],
    "Predict": [("h1", "Predict"), (".st-key-predict_smiles textarea",)],
    "Tasks": [("h1", "Tasks"), (".st-key-tasks_export button", f"Download {TASK_NAME}.zip")]
    + [(".st-key-tasks_import button", "Import")],
    "Benchmarks": [("h1", "Benchmarks"), (PLOT,), ('[data-testid="stExpander"]', "Machine, code")],
}
PAGES: list[tuple[str, str, list[dict]]] = [
    (
        name,
        "/" if name == "Home" else "/" + name.replace(" ", "_"),
        [dict(zip(("sel", "text"), marker)) for marker in markers],
    )
    for name, markers in MARKERS.items()
]

# Installed before every page load: when the script state first turns 'running', then 'notRunning'
# (ms from the navigation start): a visit splits into frontend load, script run and drawing.
TIMES_INIT_JS = """
window.__gateTimes = {};
new MutationObserver((records) => {
  for (const r of records) {
    const s = r.target.getAttribute('data-test-script-state');
    const t = window.__gateTimes;
    if (s === 'running' && t.running == null) t.running = performance.now();
    if (s === 'notRunning' && t.running != null && t.done == null) t.done = performance.now();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""
# Polled during a visit: {error} when the page shows an error; once the script run is over and
# every marker is visible, the visit's times (s); before that false, or with ``report`` what is
# still missing.
READY_JS = """
({markers, report}) => {
  const bad = document.querySelector('[data-testid="stException"], [data-testid="stAlertContentError"]');
  if (bad) return {error: bad.textContent.slice(0, 500)};
  const visible = (e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  };
  const missing = markers.filter((m) => !Array.from(document.querySelectorAll(m.sel)).some(
    (e) => (!m.text || e.textContent.includes(m.text)) && visible(e)));
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : null;
  if (state !== 'notRunning' || missing.length) return report ? {state, missing} : false;
  const n = performance.getEntriesByType('navigation')[0];
  const t = window.__gateTimes || {};
  const s = (v) => (v == null ? null : v / 1000);
  return {dom_content_loaded_seconds: n ? s(n.domContentLoadedEventEnd) : null,
    script_start_seconds: s(t.running), script_end_seconds: s(t.done), ready_seconds: s(performance.now())};
}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--visits", type=int, default=5, help="warm visits per page (after one cold visit each)")
    add("--threads", type=int, default=1, help="OMP_NUM_THREADS and GATE_THREADS of the server")
    add("--ensemble", type=int, default=2, help="K of the task added before the server starts")
    add("--max-steps", type=int, default=40, help="max steps per member of that task")
    add("--cold-timeout", type=float, default=300.0, help="seconds allowed for one cold visit")
    add("--warm-timeout", type=float, default=60.0, help="seconds allowed for one warm visit")
    add("--keep-data", action="store_true", help="keep the temporary GATE_DATA_DIR")


_log = logger(NAME)


def server_healthy(url: str) -> bool:
    """Streamlit's health endpoint answers ok (refused before bind, 503 before the runtime is ready)."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:  # urllib's URLError and HTTPError too
        return False


def log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """User + system CPU seconds (psutil) of the server process, and of every other live
    descendant of this process (the Playwright driver and Chromium, not the server's subtree).
    Processes that ended are not counted."""
    import psutil

    server, browser = psutil.Process(server_pid), 0.0
    skip = {server_pid, *(p.pid for p in server.children(recursive=True))}
    for process in psutil.Process().children(recursive=True):
        if process.pid not in skip:
            with suppress(psutil.Error):  # it ended meanwhile
                browser += sum(process.cpu_times()[:2])
    return {"server_cpu_seconds": sum(server.cpu_times()[:2]), "browser_cpu_seconds": browser}


def add_one_task(backbone: str, data_dir: Path, args: argparse.Namespace) -> dict:
    """Register ``target_tiny`` in ``data_dir`` (trained here, before the server starts)."""
    import pandas as pd

    from gate_core.api import GateStudio, config_from_options
    from gate_core.preview import PREVIEW_TEST_FRACTION

    elapsed = stopwatch()
    frame = pd.read_csv(REPO_ROOT / "tests" / "data" / "target_tiny.csv")
    # learned λ: Transfer ratios draws its trajectory; the Add-a-task preview's test fraction
    options = {"ratios": "learned", "ensemble": args.ensemble, "max_steps": args.max_steps}
    options |= {"test_fraction": PREVIEW_TEST_FRACTION, "train_baseline": True}
    config = config_from_options(options)
    studio = GateStudio(backbone, data_dir)
    studio.add_task(frame, "smiles", "value", TASK_NAME, unit="log units", config=config)
    return {"name": TASK_NAME, "rows": len(frame), "config": config.to_dict(), "seconds": elapsed()}


def stop_server(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it started: SIGTERM
    to its process group, SIGKILL if it is still running ``grace`` seconds later."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def streamlit_server(
    env: dict, log_path: Path = LOG_PATH, timeout: float = STARTUP_TIMEOUT
) -> Iterator[tuple[str, int, float]]:
    """``streamlit run app.py`` with ``env`` on a free loopback port in its own process group,
    logging to ``log_path``; yields its URL, its pid and the seconds it took to be healthy. On
    exit only that process group is stopped (:func:`stop_server`)."""
    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = f"run app.py --server.port {port} --server.address 127.0.0.1 --server.headless true"
    cmd = [sys.executable, "-m", "streamlit", *options.split()]
    cmd += "--server.fileWatcherType none --browser.gatherUsageStats false".split()
    elapsed = stopwatch()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # stdout and stderr share one file offset, as with STDOUT
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while not server_healthy(url):
            if proc.poll() is not None or elapsed() > timeout:
                raise RuntimeError(
                    f"streamlit not healthy after {elapsed():.0f} s (exit code {proc.returncode})"
                    f":\n{log_tail(log_path)}"
                )
            time.sleep(0.25)
        yield url, proc.pid, elapsed()
    finally:
        stop_server(proc)


def visit(page, url: str, server_pid: int, path: str, markers: list[dict], timeout: float) -> dict:
    """One full page load until the markers are visible and the script run is over: its seconds,
    the browser's times from the navigation start (READY_JS) and the CPU seconds meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cpu0, elapsed = cpu_seconds(server_pid), stopwatch()
    page.goto(url + path, wait_until="commit", timeout=timeout * 1000)
    wait, ask = max(1.0, timeout - elapsed()) * 1000, {"markers": markers}
    try:
        handle = page.wait_for_function(READY_JS, arg=ask, polling=25, timeout=wait)
    except PlaywrightTimeout:
        state = page.evaluate(READY_JS, ask | {"report": True})
        raise RuntimeError(
            f"{path} not ready in {timeout:.0f} s: {state}; log {LOG_PATH}"
        ) from None
    seconds, times = elapsed(), handle.json_value()
    if "error" in times:
        raise RuntimeError(f"{path} shows an error: {times['error']}\nlog:\n{log_tail(LOG_PATH)}")
    cpu1 = cpu_seconds(server_pid)
    return {"seconds": seconds, **times} | {k: cpu1[k] - cpu0[k] for k in cpu1}


def measure(url: str, server_pid: int, args: argparse.Namespace, load: dict) -> tuple[dict, str]:
    """One cold visit per page, then ``--visits`` warm rounds over every page; the 1-minute load
    average before each part and after them goes into ``load``. Returns the visits and the
    browser's version."""
    from playwright.sync_api import sync_playwright

    def one_round(label: str, timeout: float) -> dict[str, dict]:
        visits = {}
        for name, path, markers in PAGES:
            v = visits[name] = visit(page, url, server_pid, path, markers, timeout)
            _log(f"{label} {name} {v['seconds']:.2f} s, server CPU {v['server_cpu_seconds']:.2f} s")
            time.sleep(PAUSE_SECONDS)
        return visits

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=dict(zip(("width", "height"), VIEWPORT)))
            context.add_init_script(TIMES_INIT_JS)
            page = context.new_page()
            load["before_cold"] = loadavg()
            cold = one_round("cold", args.cold_timeout)
            load["before_warm"] = loadavg()
            rounds = [one_round(f"warm{r + 1}", args.warm_timeout) for r in range(args.visits)]
            load["after_warm"] = loadavg()
            version = browser.version
        finally:
            browser.close()
    return {"cold": cold, "warm": {name: [r[name] for r in rounds] for name in MARKERS}}, version


def summarise(cold: dict, warm: dict) -> dict:
    """Per page: the cold visit, the warm visits (max, min) and their medians: of the visit and of
    where its time went, each over the visits that recorded it (None where none did)."""
    import pandas as pd

    pages = {}
    for name in MARKERS:
        v = pd.DataFrame(warm[name], dtype=float)  # a time not recorded: NaN, skipped
        v["script_run_seconds"] = v["script_end_seconds"] - v["script_start_seconds"]
        v["after_script_seconds"] = v["ready_seconds"] - v["script_end_seconds"]
        medians = v.drop(columns=["script_end_seconds", "ready_seconds"]).median()
        m = {f"warm_median_{k}": None if pd.isna(x) else float(x) for k, x in medians.items()}
        secs = [w["seconds"] for w in warm[name]]
        pages[name] = m | {
            "cold_seconds": cold[name]["seconds"],
            "cold_server_cpu_seconds": cold[name]["server_cpu_seconds"],
            "warm_max_seconds": max(secs),
            "warm_min_seconds": min(secs),
            "warm_seconds": secs,
            "median_below_target": m["warm_median_seconds"] < TARGET_SECONDS,
            "max_below_target": max(secs) < TARGET_SECONDS,
        }
    return pages


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    backbone = str(Path(args.backbone).expanduser().resolve())
    server_env = {"OMP_NUM_THREADS": str(args.threads), "GATE_THREADS": str(args.threads)}
    os.environ.update(server_env)
    limit_threads(args.threads)
    elapsed, load = stopwatch(), {"start": loadavg()}
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="page_render_data_", dir=WORK_DIR))
    try:
        _log(f"adding task {TASK_NAME} into {data_dir} …")
        task = add_one_task(backbone, data_dir, args)
        _log(f"task added in {task['seconds']:.1f} s; starting streamlit (log: {LOG_PATH})")
        env = {**os.environ, "GATE_BACKBONE": backbone, "GATE_DATA_DIR": str(data_dir)}
        with streamlit_server(env) as (url, pid, startup_seconds):
            _log(f"server healthy at {url} after {startup_seconds:.1f} s (pid {pid})")
            visits, version = measure(url, pid, args, load)
            server_cpu_total = cpu_seconds(pid)["server_cpu_seconds"]
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    pages = summarise(**visits)
    results = {
        "settings": settings(args)
        | {
            "backbone": backbone,
            "pause_seconds": PAUSE_SECONDS,
            "server_env": server_env,
            "chromium": CHROMIUM,
            "chromium_version": version,
            "chromium_args": CHROMIUM_ARGS,
            "viewport": VIEWPORT,
            "streamlit": importlib.metadata.version("streamlit"),
            "playwright": importlib.metadata.version("playwright"),
            "data_dir": str(data_dir) + ("" if args.keep_data else " (removed)"),
            "page_markers": {name: {"url": path, "markers": m} for name, path, m in PAGES},
        },
        "task": task,
        "server_startup_seconds": startup_seconds,
        "server_cpu_seconds_total": server_cpu_total,
        "server_log": str(LOG_PATH),
        "server_log_tracebacks": LOG_PATH.read_text(errors="replace").count("Traceback"),
        "load_average_1_5_15": load | {"end": loadavg()},
        "target_seconds": TARGET_SECONDS,
        "target_met_median": all(p["median_below_target"] for p in pages.values()),
        "target_met_max": all(p["max_below_target"] for p in pages.values()),
        "pages": pages,
        "visits": visits,
        "wall_seconds": elapsed(),
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def _verdict(every_visit: bool, median: bool) -> str:
    return "PASS" if every_visit else "PASS on the median" if median else "FAIL"


def markdown(r: dict) -> str:
    """The result's one renderer; the set-up and what a visit is: bench/README.md."""
    s, task, load = r["settings"], r["task"], r["load_average_1_5_15"]
    pages = [
        {"page": name, "pass": _verdict(p["max_below_target"], p["median_below_target"])} | p
        for name, p in r["pages"].items()
    ]
    la = ", ".join(f"{k} {v[0]:.2f}" for k, v in load.items() if v)
    return "\n\n".join(
        [
            "# Page render time (browser, warm server)",
            f"Backbone `{Path(s['backbone']).name}`, task `{task['name']}` ({task['rows']} rows, "
            f"K = {task['config']['ensemble']}, added in {task['seconds']:.1f} s), "
            f"GATE_THREADS = {s['threads']}, Chromium {s['chromium_version']}, "
            f"Streamlit {s['streamlit']}; cold = each page's first visit, warm = {s['visits']} "
            "visits per page after that.",
            f"**Target: every page < {r['target_seconds']:.0f} s warm — "
            f"{_verdict(r['target_met_max'], r['target_met_median'])}.**",
            records_table(
                "page | warm median s | warm max s | cold s | < 3 s (every warm visit)",
                "page warm_median_seconds warm_max_seconds cold_seconds pass",
                pages,
            ),
            "Warm medians: seconds from the navigation start, CPU seconds during the visit.",
            records_table(
                "page | DOMContentLoaded | script starts | script run | drawing after the run"
                " | server CPU | browser CPU",
                "page warm_median_dom_content_loaded_seconds warm_median_script_start_seconds"
                " warm_median_script_run_seconds warm_median_after_script_seconds"
                " warm_median_server_cpu_seconds warm_median_browser_cpu_seconds",
                pages,
            ),
            f"Server start to healthy: {r['server_startup_seconds']:.1f} s; tracebacks in its "
            f"log: {r['server_log_tracebacks']}; 1-minute load average: {la}.",
        ]
    )
