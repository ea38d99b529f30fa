"""`make run`'s process trio in the embedded profile: web, a real Celery worker on the
filesystem broker, and beat; Ctrl-C (SIGINT) stops every one of them."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    env.update({"PORTAL_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    return env


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:  # noqa: S310
            return json.loads(response.read())
    except OSError:
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_portal_serves_pages_runs_tasks_on_a_real_worker_and_stops_on_ctrl_c(tmp_path):
    env = _embedded_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ready = _wait_for(lambda: _ready(port), 60, "the web process")
        assert ready["status"] == "ok"

        # A task queued by another process reaches the worker through the filesystem broker.
        enqueue = (
            "import django; django.setup(); from portal.tasks import send_email; "
            "send_email.delay(to=['probe@example.com'], subject='worker probe', text='t', html='<p>t</p>')"
        )
        subprocess.run([sys.executable, "-c", enqueue], cwd=ROOT, env=env, check=True, timeout=60)
        mail_dir = tmp_path / "mail"
        _wait_for(
            lambda: mail_dir.exists() and any("worker probe" in p.read_text() for p in mail_dir.iterdir()),
            60,
            "the worker to send the e-mail",
        )
    finally:
        os.killpg(server.pid, signal.SIGINT) if server.poll() is None else None
        server.wait(30)
    _wait_for(lambda: not _group_alive(server.pid), 30, "every child process to stop")
    assert server.returncode == 0
