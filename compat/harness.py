"""Starting a real wabagate for the Python suites of compat/.

``serve(prefix, *flags)`` is a generator for a session-scoped pytest fixture: it starts
``wabagate serve --listen 127.0.0.1:<free port> --data <fresh tmp dir> [flags]``, waits for the
port to answer and bootstrap.json to appear, yields the parsed bootstrap.json (plus
``data_dir``), then stops the server with SIGTERM. The caller's WABAGATE_* settings are dropped:
each suite runs on the demo world with the flags it passes.

Binary: ``$WABAGATE_BIN`` or ``<repo>/target/debug/wabagate``
(build it first with ``cargo build -p wabagate``).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "wabagate"
STARTUP_TIMEOUT_S = 20.0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def serve(prefix, *flags):
    binary = Path(os.environ.get("WABAGATE_BIN", str(DEFAULT_BIN)))
    if not binary.is_file():
        pytest.fail(f"wabagate binary not found at {binary}; run `cargo build -p wabagate` or set WABAGATE_BIN")

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir = workdir / "data"  # fresh: does not exist yet
    stdout_path = workdir / "server.stdout"
    stderr_path = workdir / "server.stderr"
    port = _free_port()
    cmd = [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data_dir), *flags]
    print(f"\n[wabagate] starting: {' '.join(cmd)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WABAGATE_") or k == "WABAGATE_BIN"}
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        bootstrap_path = data_dir / "bootstrap.json"
        while True:
            rc = proc.poll()
            if rc is not None:
                pytest.fail(
                    f"wabagate exited with status {rc} during startup.\n"
                    f"--- stderr ---\n{_read(stderr_path)}\n--- stdout ---\n{_read(stdout_path)}"
                )
            if _port_answers(port) and bootstrap_path.is_file():
                break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"wabagate did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT_S:.0f}s.\n"
                    f"--- stderr ---\n{_read(stderr_path)}\n--- stdout ---\n{_read(stdout_path)}"
                )
            time.sleep(0.1)

        bootstrap = json.loads(bootstrap_path.read_text())
        bootstrap["data_dir"] = str(data_dir)
        print(f"[wabagate] up at {bootstrap['graph_url']} (data {data_dir})")
        yield bootstrap
    finally:
        stop()
        if proc.returncode not in (0, None, -signal.SIGTERM):
            print(f"[wabagate] exited with {proc.returncode}; stderr:\n{_read(stderr_path)}")
        if os.environ.get("WABAGATE_KEEP_DATA"):
            print(f"[wabagate] keeping {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --- "incremental" steps: the scenario is a chain; once a step fails, the rest
# are reported as xfail("previous step failed") instead of piling up noise. ---

def pytest_runtest_makereport(item, call):
    if "incremental" in item.keywords and call.excinfo is not None:
        if not call.excinfo.errisinstance(pytest.skip.Exception):
            item.parent._previousfailed = item


def pytest_runtest_setup(item):
    if "incremental" in item.keywords:
        previous = getattr(item.parent, "_previousfailed", None)
        if previous is not None:
            pytest.xfail(f"previous step failed ({previous.name})")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "incremental: steps of one scenario; stop at the first failure"
    )
