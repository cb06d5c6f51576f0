"""The notifications API and page: channels (write-only URLs, SSRF refusals, 400s naming the
field), "send test", the delivery list and its filters, scopes, audit."""

from __future__ import annotations

import pytest

from envs.models import Environment
from envs.notifications.models import DEFAULT_EVENTS, Channel, Delivery
from portal.audit.models import AuditEvent
from portal.runs.choices import Status
from portal.runs.models import Run

from .fakes.receivers import JsonReceiver

SECRET = "s3cr3t-hook-password"
BASE = "/api/notifications/channels/"


@pytest.fixture
def receiver():
    r = JsonReceiver().start()
    yield r
    r.close()


@pytest.fixture
def lan(settings):
    settings.NOTIFY_ALLOW_PRIVATE = True
    settings.NOTIFY_TIMEOUT = 2
    return settings


def create(api, receiver, **extra):
    body = {"name": "phone", "url": receiver.url(password=SECRET), **extra}
    return api.post(BASE, body, format="json")


def test_create_returns_the_id_and_never_the_url(api, receiver, lan):
    response = create(api, receiver)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    channel = Channel.objects.get(pk=pk)
    assert channel.events == DEFAULT_EVENTS and channel.environments == []
    for url in (BASE, f"{BASE}{pk}/"):
        text = api.get(url).content.decode()
        assert SECRET not in text and "portal:" not in text and "/hook" not in text
        assert f"json://127.0.0.1:{receiver.port}" in text
    audit = AuditEvent.objects.filter(action="notifications.channel.create").get()
    assert SECRET not in str(audit.detail) and audit.actor
    # Stored encrypted: the database row holds no plaintext.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM notifications_channel WHERE id = %s", [pk])
        assert SECRET not in cursor.fetchone()[0]


@pytest.mark.parametrize("url, field_text", [
    ("notaurl", "needs a scheme"),
    ("foo://example.com", "no service with the scheme foo://"),
    ("json://", "cannot parse this json:// URL"),
    ("", "This field may not be blank."),
])
def test_an_invalid_url_is_a_400_naming_the_field(api, url, field_text):
    response = api.post(BASE, {"name": "x", "url": url}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert field_text in body["fields"]["url"][0]


@pytest.mark.parametrize("url, why", [
    ("json://127.0.0.1:9/x", "loopback"),
    ("json://10.0.0.5/x", "private"),
    ("json://169.254.169.254/latest", "metadata"),
    ("ntfy://[::1]/topic", "loopback"),
    ("json://localhost:8080/", "loopback"),
    ("json://0x7f000001/", "loopback"),
])
def test_private_addresses_are_refused_unless_allowed(api, settings, url, why):
    settings.NOTIFY_ALLOW_PRIVATE = False
    response = api.post(BASE, {"name": "x", "url": url}, format="json")
    assert response.status_code == 400, response.content
    assert why in response.json()["fields"]["url"][0]
    assert "PORTAL_NOTIFY_ALLOW_PRIVATE" in response.json()["fields"]["url"][0]
    settings.NOTIFY_ALLOW_PRIVATE = True
    allowed = api.post(BASE, {"name": "x", "url": url}, format="json")
    assert allowed.status_code == (400 if why == "metadata" else 201), allowed.content


def test_events_environments_and_names_are_checked(api, receiver, lan, db):
    Environment.objects.create(name="prod", tier="prod")
    bad = create(api, receiver, events=["run.failed", "nope"])
    assert bad.status_code == 400 and "events" in bad.json()["fields"]
    bad = create(api, receiver, environments=["prod", "ghost"])
    assert bad.status_code == 400
    assert "ghost" in bad.json()["fields"]["environments"][0]
    ok = create(api, receiver, events=["*", "run.failed"], environments=["prod"])
    assert ok.status_code == 201
    assert Channel.objects.get().events == ["*"]
    twice = create(api, receiver)
    assert twice.status_code == 400 and "name" in twice.json()["fields"]


def test_patch_delete_and_404(api, receiver, lan):
    pk = create(api, receiver).json()["id"]
    response = api.patch(f"{BASE}{pk}/", {"events": ["plan.ready"], "enabled": False},
                         format="json")
    assert response.status_code == 200
    assert response.json()["events"] == ["plan.ready"] and response.json()["enabled"] is False
    assert api.patch(f"{BASE}{pk}/", {"url": "bad"}, format="json").status_code == 400
    assert api.delete(f"{BASE}{pk}/").status_code == 204
    missing = api.get(f"{BASE}{pk}/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_a_read_token_cannot_change_anything(read_api, api, receiver, lan):
    assert read_api.get(BASE).status_code == 200
    assert create(read_api, receiver).status_code == 403
    pk = create(api, receiver).json()["id"]
    assert read_api.post(f"{BASE}{pk}/test/").status_code == 403
    assert read_api.delete(f"{BASE}{pk}/").status_code == 403


def test_send_test_now_sent_and_failed(api, receiver, lan):
    pk = create(api, receiver).json()["id"]
    response = api.post(f"{BASE}{pk}/test/")
    assert response.json() == {"status": "sent", "error": ""}
    [message] = receiver.wait_for(1)
    assert "Test message for phone" in message["title"]
    receiver.close()
    response = api.post(f"{BASE}{pk}/test/")
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and response.json()["error"]
    assert SECRET not in response.json()["error"]


def test_deliveries_newest_first_and_filtered(api, receiver, lan, db):
    Environment.objects.create(name="dev", tier="dev")
    pk = create(api, receiver, events=["*"]).json()["id"]
    for kind in ("selfcheck", "backup"):
        run = Run.objects.create(kind=kind, target="env:dev", status=Status.RUNNING)
        run.transition(Status.RUNNING, Status.FAILED, error="nope")
    api.post(f"{BASE}{pk}/test/")
    rows = api.get("/api/notifications/deliveries/").json()["results"]
    assert [r["event"] for r in rows] == ["channel.test", "backup.failed", "run.failed"]
    assert rows[0]["status"] == "sent" and rows[1]["status"] == "queued"
    only = api.get("/api/notifications/deliveries/?event=backup.failed").json()["results"]
    assert [r["event"] for r in only] == ["backup.failed"]
    sent = api.get(f"/api/notifications/deliveries/?status=sent&channel={pk}").json()
    assert sent["count"] == 1
    bad = api.get("/api/notifications/deliveries/?status=lost")
    assert bad.status_code == 400 and "status" in bad.json()["fields"]
    assert Delivery.objects.count() == 3


def test_the_schema_lists_the_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    for path in ("/api/notifications/channels/", "/api/notifications/channels/{id}/",
                 "/api/notifications/channels/{id}/test/", "/api/notifications/deliveries/"):
        assert path in schema["paths"], path


def test_the_page_adds_tests_and_lists(signed_in, receiver, lan, owner):
    page = signed_in.get("/settings/notifications/")
    assert page.status_code == 200 and b"Add a channel" in page.content
    response = signed_in.post("/settings/notifications/add/", {
        "name": "phone", "url": receiver.url(password=SECRET), "events-present": "1",
        "events": ["run.failed", "plan.ready"], "environments-present": "1"}, follow=True)
    assert b"Channel phone added" in response.content
    channel = Channel.objects.get()
    assert channel.events == ["run.failed", "plan.ready"]
    response = signed_in.post(f"/settings/notifications/{channel.pk}/test/", follow=True)
    assert b"Test message delivered to phone" in response.content
    assert SECRET.encode() not in response.content
    response = signed_in.post("/settings/notifications/add/", {
        "name": "bad", "url": "notaurl", "events-present": "1"}, follow=True)
    assert b"Refused: url: not an Apprise URL" in response.content
    dashboard = signed_in.get("/")
    assert b"Notifications" in dashboard.content
