"""With REDIS_URL set, runs travel through the Redis broker (a real Redis on 127.0.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from portal.runs.choices import Status
from portal.runs.models import Run

from .conftest import ROOT, WorkerProcess, database_url_for_subprocess, wait_for

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        raise AssertionError(f"Redis is required for this test at {REDIS_URL}: {exc}") from None
    client.flushdb()
    yield client
    client.flushdb()


def test_a_run_queued_through_redis_is_executed_by_a_redis_worker(transactional_db, redis_db):
    from django.conf import settings

    worker = WorkerProcess({"REDIS_URL": REDIS_URL})
    try:
        env = dict(os.environ, REDIS_URL=REDIS_URL, DATABASE_URL=database_url_for_subprocess(),
                   PORTAL_ENCRYPTION_KEYS=",".join(settings.ENCRYPTION_KEYS),
                   PORTAL_SECRET_KEY=settings.SECRET_KEY, PORTAL_DATA_DIR=str(settings.DATA_DIR))
        code = ("from portal.runs.models import Run; "
                "print(Run.start('selfcheck', target='redis-test').pk)")
        out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60, check=True)
        pk = int(out.stdout.strip().splitlines()[-1])
        wait_for(lambda: worker.alive() and Run.objects.get(pk=pk).status == Status.SUCCEEDED,
                 timeout=30, interval=0.2, message="the selfcheck to succeed via Redis")
        # The ORM broker's queue table was not used: the task went through Redis.
        from django_q.models import OrmQ

        assert OrmQ.objects.count() == 0
    finally:
        worker.stop()
