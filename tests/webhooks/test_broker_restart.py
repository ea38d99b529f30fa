"""Against real PostgreSQL and a private Redis broker: the broker is killed (SIGKILL, no
persistence, so every queued and unacked task is gone) and restarted on the same port in
the middle of a run, and every delivery still arrives, once per recorded attempt.

The broker is a redis-server of this test's own on a free loopback port; the shared
Redis (cache, other tests' queues) is never touched. The test thread plays beat, as in
test_worker.py, and shrugs off the enqueue errors beat would log while the broker is down:
the dispatch leases it set expire and the deliveries are handed out again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections import Counter

import pytest
import redis
from standardwebhooks.webhooks import Webhook

from portal.celery import app as celery_app
from tests.factories import make_org
from tests.webhooks.conftest import Receiver, start_receiver
from tests.webhooks.test_worker import DEADLINE, Worker, _endpoint, _free_port, _record
from webhooks import services
from webhooks.models import Delivery

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REDIS_SERVER = "/usr/bin/redis-server"
N_EVENTS = 150  # x 3 endpoints


class PrivateRedis:
    def __init__(self, tmp_path, port: int):
        self.port, self.dir, self.process = port, tmp_path, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        end = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > end or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _use_broker(url: str, *, close_current: bool = False) -> None:
    """Point this process's Celery producer at `url`.

    kombu keeps one pool per broker URL in a process-wide registry, so the shared broker's
    pool is left open for the other tests; only the private one is closed when done.
    """
    if close_current and celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app.conf.broker_url = url


def _pump(done, worker: Worker, timeout: float = DEADLINE) -> None:
    """Beat's role, tolerating a broker that is down (beat logs the error and runs again)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if done():
            return
        with contextlib.suppress(Exception):  # kombu's OperationalError while the broker is away
            services.deliveries_dispatch()
        time.sleep(0.2)
    log = worker.log.read_text()[-3000:] if worker.log.exists() else ""
    pytest.fail(f"not done within {timeout:.0f} s; worker log tail:\n{log}")


def test_a_broker_restarted_mid_run_loses_nothing(tmp_path, settings):
    settings.WEBHOOKS_LEASE_SECONDS = 3
    broker = PrivateRedis(tmp_path, _free_port())
    queue = f"wh-restart-{uuid.uuid4().hex[:10]}"
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue, celery_app.conf.broker_url)
    receiver = Receiver()
    server = start_receiver(receiver)
    worker = None
    try:
        broker.start()
        _use_broker(broker.url)
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_default_queue = queue
        worker = Worker(tmp_path, queue)
        assert worker.env["CELERY_BROKER_URL"] == broker.url
        assert broker.url != settings.REDIS_URL
        worker.start()

        org = make_org("Restart")
        endpoints = [_endpoint(org, f"{receiver.url}/{i}") for i in range(3)]
        secrets = {f"/hook/{i}": e.secret for i, e in enumerate(endpoints)}
        total = 3 * N_EVENTS
        events = []
        for _ in range(N_EVENTS // 50):
            events += _record(org, 50)

        def succeeded() -> int:
            return Delivery.objects.filter(status="succeeded").count()

        _pump(lambda: succeeded() >= total // 10, worker)
        broker.kill()  # every queued and unacked task is gone with it
        done_at_kill = succeeded()
        assert done_at_kill < total, "the run finished before the broker died; raise N_EVENTS"
        back_at = time.monotonic() + 1.5
        _pump(lambda: time.monotonic() >= back_at, worker)  # beat keeps trying while it is down
        broker.start()  # same port, empty
        _pump(lambda: succeeded() == total, worker)

        seen = Counter()
        for got in receiver.requests:
            Webhook(secrets[got.path]).verify(got.body, got.headers)
            seen[(got.path, got.headers["webhook-id"])] += 1
        attempts = {
            (f"/hook/{endpoints.index(d.endpoint)}", d.webhook_id): d.attempt_count
            for d in Delivery.objects.select_related("endpoint")
        }
        assert len(attempts) == total
        assert set(seen) == set(attempts)  # every (endpoint, event) arrived
        assert {key[1] for key in seen} == {e.public_id for e in events}
        # Once per recorded attempt, never more: no send was duplicated by the restart.
        assert all(count <= attempts[key] for key, count in seen.items())
    finally:
        if worker is not None:
            worker.stop()
        broker.kill()
        server.shutdown()
        server.server_close()
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue, broker_url = saved
        _use_broker(broker_url, close_current=True)
