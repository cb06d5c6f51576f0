"""Apprise names a channel's URL in its log lines (debug lines unpack it into
``password="..."``, a rejected URL is quoted at ERROR): through the portal's own paths (add a
channel, test it, deliver to it) no log record, answer, audit event or run line holds the
password. Everything logged is captured: caplog at DEBUG on every logger, a handler on the
root logger and one on the ``apprise`` logger itself (which the portal keeps from
propagating), so the records Apprise writes are seen and checked."""

from __future__ import annotations

import io
import logging
import socket

import pytest
from django.utils import timezone

from envs.notifications.delivery import deliver_pass
from envs.notifications.models import Channel, Delivery, DeliveryStatus, Notification
from portal.audit.models import AuditEvent
from portal.runs.models import Run, RunLine

PASSWORD = "Zq7-leaky-channel-pw-31337"


@pytest.fixture
def all_logs(caplog):
    """Every record any logger writes, formatted with its traceback, as one text."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(1, logger="apprise")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(1)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root, apprise_log = logging.getLogger(), logging.getLogger("apprise")
    root.addHandler(handler)
    apprise_log.addHandler(handler)
    apprise_records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            apprise_records.append(record)

    keep = Keep(level=1)
    apprise_log.addHandler(keep)

    def text() -> str:
        formatter = logging.Formatter("%(message)s")
        caught = "\n".join(formatter.format(r) for r in caplog.records + apprise_records)
        return caught + "\n" + buffer.getvalue()

    text.apprise_records = apprise_records
    yield text
    root.removeHandler(handler)
    apprise_log.removeHandler(handler)
    apprise_log.removeHandler(keep)


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def everything_else(api) -> str:
    audit = "\n".join(repr(row) for row in AuditEvent.objects.values())
    lines = "\n".join(RunLine.objects.values_list("text", flat=True))
    runs = "\n".join(f"{r.error} {r.result}" for r in Run.objects.all())
    deliveries = "\n".join(Delivery.objects.values_list("last_error", flat=True))
    answers = (api.get("/api/notifications/channels/").content.decode()
               + api.get("/api/notifications/deliveries/").content.decode())
    return "\n".join([audit, lines, runs, deliveries, answers])


@pytest.mark.parametrize("url", [
    f"mailtos://owner:{PASSWORD}@",                           # a known scheme Apprise rejects
    f"xyzzy://owner:{PASSWORD}@example.org/path",             # a scheme Apprise does not know
    f"json://owner:{PASSWORD}@/hook?pass={PASSWORD}",         # no host: refused by Apprise
])
def test_refused_channel_url_leaves_no_password_in_logs(db, api, all_logs, url):
    response = api.post("/api/notifications/channels/", {"name": "leaky", "events": ["*"],
                                                        "url": url}, format="json")
    body = response.content.decode()
    assert response.status_code in (400, 422), body
    assert not Channel.objects.exists()
    logs = all_logs()
    # Apprise did write about this URL (the check is not vacuous) ...
    assert all_logs.apprise_records, "Apprise wrote nothing: the test proves nothing"
    assert url.split("://")[0] + "://" in logs
    # ... and nowhere is its password.
    for where, text in (("logs", logs), ("answer", body), ("rows", everything_else(api))):
        assert PASSWORD not in text, f"{where} leaks the password"


def test_failed_delivery_leaves_no_password_in_logs(db, settings, api, all_logs):
    settings.NOTIFY_ALLOW_PRIVATE = True
    url = f"json://portal:{PASSWORD}@127.0.0.1:{refused_port()}/hook?token={PASSWORD}x"
    created = api.post("/api/notifications/channels/", {"name": "down", "events": ["*"],
                                                       "url": url}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    tested = api.post(f"/api/notifications/channels/{pk}/test/", format="json")
    assert tested.status_code in (200, 502), tested.content
    assert tested.json()["status"] == "failed"
    # A delivery of an event, by the delivery pass, to the same refusing receiver.
    channel = Channel.objects.get(pk=pk)
    notification = Notification.objects.create(event="run.failed", subject="apply failed",
                                               body="it failed", dedup_key="leak:1",
                                               created_at=timezone.now())
    Delivery.objects.create(notification=notification, channel=channel,
                            created_at=timezone.now(), next_attempt_at=timezone.now())
    deliver_pass()
    assert Delivery.objects.filter(notification=notification).exclude(
        status=DeliveryStatus.SENT).exists()

    logs = all_logs()
    assert any("JSON" in r.getMessage() for r in all_logs.apprise_records), logs
    for where, text in (("logs", logs), ("test answer", tested.content.decode()),
                        ("rows", everything_else(api))):
        assert PASSWORD not in text, f"{where} leaks the password"


def test_apprise_record_args_and_traceback_are_redacted(all_logs):
    """A record whose URL arrives through its args, with a traceback quoting it."""
    try:
        raise RuntimeError(f"cannot reach json://portal:{PASSWORD}@10.0.0.1/hook")
    except RuntimeError:
        logging.getLogger("apprise").error("Unsupported URL: %s (%s)",
                                           f"mailtos://user:{PASSWORD}@host",
                                           {"pass": PASSWORD}, exc_info=True)
    logs = all_logs()
    assert "Unsupported URL: mailtos://" in logs and "RuntimeError" in logs
    assert PASSWORD not in logs
