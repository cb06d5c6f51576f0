"""The environment Overview leads with what needs the owner: an overdue backup (the rule of
the ``backup.overdue`` notification, called, not copied) and a notification channel whose
deliveries fail, each naming what and since when and linking where to act; from the
database only, in < 300 ms, with queries that do not grow with the rows."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.backups.models import Backup, BackupSource, Frequency, Verification
from envs.models import Environment
from envs.notifications import checks
from envs.notifications.delivery import deliver_pass
from envs.notifications.models import Channel, Delivery, DeliveryStatus, Notification
from envs.notifications.services import create_channel

from .fakes.receivers import JsonReceiver
from .test_list_queries import count_queries
from .test_notifications_delivery import fail_run

pytestmark = pytest.mark.django_db
OVERVIEWS = ["/envs/dev/", "/envs/dev/overview/"]


@pytest.fixture(autouse=True)
def notify_settings(settings):
    settings.NOTIFY_ALLOW_PRIVATE = True
    settings.NOTIFY_TIMEOUT = 2
    settings.NOTIFY_FAILING_AFTER = 3
    settings.BACKUP_MAX_AGE_HOURS = 26
    return settings


@pytest.fixture
def dev(db):
    return Environment.objects.create(name="dev", tier="dev")


def source(env, name, added_hours_ago, verified_hours_ago=None, **fields) -> BackupSource:
    now = timezone.now()
    src = BackupSource.objects.create(environment=env, name=name,
                                      database_url="postgresql://ro:pw@127.0.0.1/app",
                                      created_at=now - timedelta(hours=added_hours_ago),
                                      **fields)
    if verified_hours_ago is not None:
        backup = Backup.objects.create(source=src, key=f"backups/{env.name}/{name}/1",
                                       sha256="0" * 64, verification=Verification.VERIFIED)
        Backup.objects.filter(pk=backup.pk).update(
            created_at=now - timedelta(hours=verified_hours_ago))
    return src


def attention(page: str) -> list[str]:
    """The items of the "Needs you" panel, as text with their link."""
    panel = re.search(r'<section class="panel attention" id="attention">(.*?)</section>', page,
                      re.S)
    return re.findall(r"<li[^>]*>(.*?)</li>", panel.group(1), re.S) if panel else []


def failing_channel(name="ops", envs=(), failures=3, hours_ago=5, **fields) -> Channel:
    now = timezone.now()
    channel = Channel.objects.create(
        name=name, url=f"json://portal:chan-pass-{name}@127.0.0.1:9/hook",
        display="json://127.0.0.1", environments=list(envs), consecutive_failures=failures,
        last_failure_at=now - timedelta(minutes=10), last_error="connection refused",
        last_success_at=now - timedelta(days=2), **fields)
    note = Notification.objects.create(event="run.failed", environment="dev", subject="x",
                                       body="x", dedup_key=f"x:{name}")
    delivery = Delivery.objects.create(notification=note, channel=channel,
                                       status=DeliveryStatus.FAILED, attempts=failures)
    Delivery.objects.filter(pk=delivery.pk).update(created_at=now - timedelta(hours=hours_ago))
    return channel


def test_an_overdue_backup_is_named_with_its_age_and_links_to_the_backups_tab(signed_in,
                                                                               dev):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    source(dev, "fresh-db", added_hours_ago=24 * 10, verified_hours_ago=2)
    source(dev, "new-db", added_hours_ago=48)  # never verified
    source(dev, "manual-db", added_hours_ago=24 * 10, frequency=Frequency.OFF)
    source(dev, "git", added_hours_ago=24 * 10, verified_hours_ago=72,
           frequency=Frequency.WEEKLY, kind="git")
    other = Environment.objects.create(name="test", tier="test")
    source(other, "elsewhere", added_hours_ago=24 * 10, verified_hours_ago=100)
    for path in OVERVIEWS:
        page = signed_in.get(path).content.decode()
        items = attention(page)
        assert len(items) == 2, items
        late, never = items
        assert "app-db: no verified backup for 30 h (expected daily)" in late
        assert "new-db: no verified backup yet, added 48 h ago (expected daily)" in never
        for item in items:
            assert '<a href="/envs/dev/backups/" class="btn secondary">Open backups</a>' in item
        assert page.index('id="attention"') < page.index("Description")
        assert re.search(r'<li class="warning" title="last verified backup \d{4}-\d\d-\d\d '
                         r'\d\d:\d\d', page)
    assert "elsewhere" not in signed_in.get("/envs/dev/").content.decode()
    assert "elsewhere" in signed_in.get("/envs/test/").content.decode()


def test_the_overview_and_the_notification_use_one_rule(signed_in, dev, settings):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    source(dev, "weekly-db", added_hours_ago=24 * 20, verified_hours_ago=24 * 8,
           frequency=Frequency.WEEKLY)
    source(dev, "new-db", added_hours_ago=27)
    now = timezone.now()

    def on_page() -> set[str]:
        return {item.split(":")[0].strip() for item in attention(
            signed_in.get("/envs/dev/").content.decode())}

    def notified() -> set[str]:
        Notification.objects.all().delete()
        checks.backups_overdue(now)
        return {re.search(r"of (\S+) for", n.subject).group(1)
                for n in Notification.objects.filter(event="backup.overdue")}

    assert on_page() == notified() == {"app-db", "weekly-db", "new-db"}
    settings.BACKUP_MAX_AGE_HOURS = 29  # PORTAL_BACKUP_MAX_AGE_HOURS moves both
    assert on_page() == notified() == {"app-db", "weekly-db"}
    settings.BACKUP_MAX_AGE_HOURS = 48
    assert on_page() == notified() == {"weekly-db"}


def test_a_channel_whose_deliveries_fail_is_named_and_links_to_the_deliveries(signed_in, dev):
    """Through the real delivery path: a receiver that refuses connections."""
    receiver = JsonReceiver().start()
    receiver.close()
    create_channel({"name": "phone", "url": receiver.url(password="hook-pass-123")})
    fail_run()
    deliver_pass()
    page = signed_in.get("/envs/dev/").content.decode()
    [item] = attention(page)
    assert "Notifications to phone (json://127.0.0.1" in item
    assert re.search(r"are failing for \d+ min: 1 attempt in a row failed", item), item
    assert '<a href="/settings/notifications/?status=failed" class="btn secondary">' \
        'See the deliveries</a>' in item
    assert "hook-pass-123" not in page
    assert re.search(r'<li class="warning" title="undelivered since \d{4}-\d\d-\d\d \d\d:\d\d'
                     r' [^;"]*; never delivered"', page)
    for _ in range(2):  # the retries fail too: the item turns into an error
        deliver_pass(now=Delivery.objects.get().next_attempt_at + timedelta(seconds=1))
    [item] = attention(signed_in.get("/envs/dev/").content.decode())
    assert "3 attempts in a row failed" in item
    assert '<li class="error"' in signed_in.get("/envs/dev/").content.decode()
    # delivered again: nothing needs the owner
    receiver.reopen()
    try:
        deliver_pass(now=Delivery.objects.get().next_attempt_at + timedelta(seconds=1))
        receiver.wait_for(1)
    finally:
        receiver.close()
    assert Channel.objects.get().consecutive_failures == 0
    assert 'id="attention-none"' in signed_in.get("/envs/dev/").content.decode()


def test_failing_since_the_oldest_undelivered_message_and_only_where_it_applies(signed_in,
                                                                               dev):
    failing_channel("ops", hours_ago=5)
    failing_channel("prod-only", envs=["prod"])
    failing_channel("off", enabled=False)
    Channel.objects.create(name="fine", url="json://127.0.0.1:9/x", display="json://127.0.0.1")
    [item] = attention(signed_in.get("/envs/dev/").content.decode())
    assert ("Notifications to ops (json://127.0.0.1) are failing for 5 h: 3 attempts in a row "
            "failed (connection refused)") in item
    assert "chan-pass" not in signed_in.get("/envs/dev/").content.decode()
    Environment.objects.create(name="prod", tier="prod")
    prod = attention(signed_in.get("/envs/prod/").content.decode())
    assert [("ops" in i, "prod-only" in i) for i in prod] == [(True, False), (False, True)]


def test_both_lead_the_overview_and_the_other_tabs_stay_quiet(signed_in, dev):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    failing_channel("ops")
    for path in OVERVIEWS:
        page = signed_in.get(path).content.decode()
        items = attention(page)
        assert [("app-db" in i, "ops" in i) for i in items] == [(True, False), (False, True)]
        assert page.index('id="attention"') < page.index("Description") < page.index(
            'id="runs"')
    assert 'id="attention"' not in signed_in.get("/envs/dev/backups/").content.decode()


def test_the_overview_stays_fast_and_its_queries_flat(signed_in, dev):
    def grow(k: int, start: int) -> None:
        for i in range(start, start + k):
            source(dev, f"db-{i}", added_hours_ago=24 * 10, verified_hours_ago=30 + i)
            failing_channel(f"ch-{i}")

    grow(2, 0)
    signed_in.get("/envs/dev/")  # first use: session, template compilation
    small = count_queries(signed_in, "/envs/dev/")
    grow(30, 2)
    large = count_queries(signed_in, "/envs/dev/")
    assert large <= small, f"{small} queries with 2 of each, {large} with 32"
    started = time.monotonic()
    page = signed_in.get("/envs/dev/").content.decode()
    elapsed = time.monotonic() - started
    assert len(attention(page)) == 64
    assert elapsed < 0.3, f"the Overview took {elapsed:.3f} s"
