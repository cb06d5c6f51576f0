"""What a message says: short enough for a phone's lock screen, enough to act on.

Every text names what happened, where (the environment), when and since when, the first
line of the reason, and the link to the page that shows more. Several notifications that
reach a channel together become one digest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

SUBJECT_MAX = 200
REASON_MAX = 300
DIGEST_LINES = 8
DIGEST_REASON = 120
DELIVERIES_PAGE = "/settings/notifications/"


@dataclass
class Draft:
    """A notification about to be written."""

    event: str
    subject: str
    body: str
    environment: str = ""
    link: str = ""
    dedup_key: str = ""
    window: timedelta = field(default=timedelta(days=1))


def absolute(path: str) -> str:
    if not path or "://" in path:
        return path
    return settings.PUBLIC_URL.rstrip("/") + path


def first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= REASON_MAX else line[: REASON_MAX - 1] + "…"
    return ""


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min ago"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def subject(environment: str, text: str) -> str:
    line = f"[{environment}] {text}" if environment else text
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def body(*lines: str, link: str = "") -> str:
    parts = [line for line in lines if line]
    if link:
        parts.append(absolute(link))
    return "\n".join(parts)


def reason_of(text: str) -> str:
    for line in (text or "").splitlines():
        if line.startswith(("Reason: ", "Why: ")):
            reason = line.split(": ", 1)[1]
            return reason if len(reason) <= DIGEST_REASON else reason[: DIGEST_REASON - 1] + "…"
    return ""


def digest(items: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(title, body) for several notifications to one channel: (event, subject, body)."""
    counts = Counter(event for event, _s, _b in items)
    summary = ", ".join(f"{n} {event}" for event, n in counts.most_common())
    title = f"{len(items)} portal events: {summary}"
    lines = []
    for _e, subj, text in items[:DIGEST_LINES]:
        reason = reason_of(text)
        lines.append(f"- {subj}" + (f": {reason}" if reason else ""))
    if len(items) > DIGEST_LINES:
        lines.append(f"... and {len(items) - DIGEST_LINES} more")
    lines.append(f"All of them: {absolute(DELIVERIES_PAGE)}")
    return (title if len(title) <= SUBJECT_MAX else title[: SUBJECT_MAX - 1] + "…",
            "\n".join(lines))
