"""One freshness rule for backups everywhere: for each kind of source, the Backups tab, the
dashboard's backups panel, the environment Overview and the ``backup.overdue`` check give
the same answer (envs/backups/overdue.py), and PORTAL_BACKUP_MAX_AGE_HOURS moves all four."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from envs.backups.models import Backup, BackupSource, Frequency
from envs.models import Environment
from envs.notifications import checks
from envs.notifications.models import Notification

from .test_list_queries import count_queries
from .test_overview_attention import attention, source

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev(db, settings):
    settings.BACKUP_MAX_AGE_HOURS = 24
    return Environment.objects.create(name="dev", tier="dev")


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split()).replace(
        " :", ":").replace(" )", ")").replace("( ", "(")


def tab_cell(client, name: str) -> str:
    """The Freshness cell of a source's row on the Backups tab, as HTML."""
    page = client.get("/envs/dev/backups/").content.decode()
    row = re.search(rf'<tr id="source-{name}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {name}"
    cell = re.search(r'<td class="freshness">(.*?)</td>', row.group(1), re.S)
    assert cell, f"no freshness cell for {name}"
    return cell.group(1)


def dashboard_cell(client) -> str:
    """The dashboard panel's cell for the environment dev, as HTML."""
    page = client.get("/").content.decode()
    table = page[page.index('class="table-wrap backups-dash"'):]
    row = re.search(r'<tr>\s*<td><a href="/envs/dev/backups/">dev</a></td>\s*<td>(.*?)</td>',
                    table, re.S)
    assert row, "no dashboard row for dev"
    return row.group(1)


def answers(client) -> dict:
    """What the four places say about the one source of dev."""
    [src] = BackupSource.objects.filter(environment__name="dev")
    Notification.objects.all().delete()
    checks.backups_overdue(timezone.now())
    return {
        "tab": text(tab_cell(client, src.name)),
        "dashboard": text(dashboard_cell(client)),
        "overview": [text(i) for i in attention(client.get("/envs/dev/").content.decode())],
        "notified": [n.subject for n in Notification.objects.filter(event="backup.overdue")],
    }


def test_a_fresh_source(signed_in, dev):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=2)
    said = answers(signed_in)
    assert said["tab"] == "fresh: verified 2 h ago"
    assert said["dashboard"] == "fresh: last verified 2 h ago"
    assert said["overview"] == [] and said["notified"] == []
    last = timezone.localtime(Backup.objects.get().created_at)
    assert f'title="{last:%Y-%m-%d %H:%M:%S}' in tab_cell(signed_in, "app-db")  # exact on hover


def test_an_overdue_source(signed_in, dev):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    said = answers(signed_in)
    assert said["tab"] == "overdue: no verified backup for 30 h (expected within 24 h)"
    assert said["dashboard"] == ("app-db (postgres) overdue: no verified backup for 30 h "
                                 "(expected within 24 h)")
    [item] = said["overview"]
    assert "app-db: no verified backup for 30 h (expected daily)" in item
    assert len(said["notified"]) == 1 and "app-db for 24 h" in said["notified"][0]
    last = timezone.localtime(Backup.objects.get().created_at)
    assert f'title="last verified backup {last:%Y-%m-%d %H:%M}' in tab_cell(signed_in, "app-db")


def test_a_source_just_added_is_new_not_overdue(signed_in, dev):
    src = source(dev, "new-db", added_hours_ago=1)
    said = answers(signed_in)
    due = timezone.localtime(src.created_at + timedelta(hours=24))
    assert said["tab"].startswith(f"new: first backup due by {due:%Y-%m-%d %H:%M}")
    assert "no verified backup yet" in said["dashboard"]
    assert f"new-db (postgres) new: first backup due by {due:%Y-%m-%d %H:%M}" in said[
        "dashboard"]
    assert "overdue" not in said["tab"] + said["dashboard"]
    assert said["overview"] == [] and said["notified"] == []
    added = timezone.localtime(src.created_at)
    assert f'title="added {added:%Y-%m-%d %H:%M}' in tab_cell(signed_in, "new-db")


def test_a_source_added_long_ago_without_a_backup_is_overdue(signed_in, dev):
    source(dev, "old-db", added_hours_ago=48)
    said = answers(signed_in)
    assert said["tab"] == ("overdue: no verified backup yet, added 48 h ago "
                           "(expected within 24 h)")
    assert said["dashboard"] == ("old-db (postgres) overdue: no verified backup yet, added "
                                 "48 h ago (expected within 24 h)")
    [item] = said["overview"]
    assert "old-db: no verified backup yet, added 48 h ago (expected daily)" in item
    assert len(said["notified"]) == 1 and "old-db" in said["notified"][0]


def test_a_manual_only_source_is_never_overdue(signed_in, dev):
    source(dev, "manual-db", added_hours_ago=24 * 10, frequency=Frequency.OFF)
    said = answers(signed_in)
    assert said["tab"] == "manual only" and said["dashboard"] == "manual only"
    assert said["overview"] == [] and said["notified"] == []
    Backup.objects.create(source=BackupSource.objects.get(), key="backups/dev/manual-db/1",
                          sha256="0" * 64, verification="verified")
    Backup.objects.update(created_at=timezone.now() - timedelta(days=40))
    said = answers(signed_in)
    assert said["tab"] == "manual only (last verified 40 days ago)"
    assert said["overview"] == [] and said["notified"] == []


def test_the_max_age_setting_moves_all_four(signed_in, dev, settings):
    source(dev, "app-db", added_hours_ago=24 * 10, verified_hours_ago=30)
    assert answers(signed_in)["tab"].startswith("overdue:")
    settings.BACKUP_MAX_AGE_HOURS = 48
    said = answers(signed_in)
    assert said["tab"] == "fresh: verified 30 h ago"
    assert said["dashboard"] == "fresh: last verified 30 h ago"
    assert said["overview"] == [] and said["notified"] == []
    settings.BACKUP_MAX_AGE_HOURS = 12
    said = answers(signed_in)
    assert said["tab"] == "overdue: no verified backup for 30 h (expected within 12 h)"
    assert "(expected within 12 h)" in said["dashboard"]
    assert len(said["overview"]) == 1 and "app-db for 12 h" in said["notified"][0]


def test_a_new_source_turns_overdue_everywhere_at_once_when_the_setting_shrinks(signed_in, dev,
                                                                             settings):
    source(dev, "new-db", added_hours_ago=27)
    said = answers(signed_in)  # 24 h: overdue
    assert said["tab"].startswith("overdue:") and said["dashboard"].startswith("new-db")
    assert len(said["overview"]) == len(said["notified"]) == 1
    settings.BACKUP_MAX_AGE_HOURS = 29
    said = answers(signed_in)
    assert said["tab"].startswith("new: first backup due by")
    assert said["overview"] == [] and said["notified"] == []


def test_the_tab_and_the_dashboard_queries_do_not_grow_with_sources(signed_in, dev):
    def grow(start: int, k: int) -> None:
        for i in range(start, start + k):
            source(dev, f"db-{i}", added_hours_ago=24 * 10, verified_hours_ago=i * 7,
                   frequency=[Frequency.DAILY, Frequency.WEEKLY, Frequency.OFF][i % 3])
            source(dev, f"new-{i}", added_hours_ago=1)

    grow(0, 2)
    for url in ("/envs/dev/backups/", "/"):
        signed_in.get(url)
    small = {url: count_queries(signed_in, url) for url in ("/envs/dev/backups/", "/")}
    grow(2, 20)
    large = {url: count_queries(signed_in, url) for url in ("/envs/dev/backups/", "/")}
    assert large == small
    page = signed_in.get("/envs/dev/backups/").content.decode()
    assert page.count('<td class="freshness">') == 44
