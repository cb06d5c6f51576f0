"""Template helpers: durations and the run timeline picture (server-rendered SVG)."""

from __future__ import annotations

import json
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

register = template.Library()


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.simple_tag
def run_timeline(runs, hours: int = 24, width: int = 1000):
    """Lanes per target, a bar per run from start to end (or now), coloured by status."""
    now = timezone.now()
    start = now - timedelta(hours=hours)
    runs = [r for r in runs if (r.finished_at or now) >= start]
    lanes: list[str] = []
    for run in runs:
        if run.target not in lanes:
            lanes.append(run.target)
    label_w, lane_h, top = 150, 22, 18
    height = top + lane_h * max(1, len(lanes)) + 6
    span = (now - start).total_seconds()

    def x(moment):
        return label_w + (width - label_w - 10) * max(0.0, (moment - start).total_seconds()) / span

    ticks = format_html_join(
        "", '<line class="axis" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>'
        '<text x="{0}" y="12" text-anchor="middle">-{3}h</text>',
        ((f"{x(now - timedelta(hours=h)):.1f}", top - 4, height, h)
         for h in range(hours, -1, -6)),
    )
    labels = format_html_join(
        "", '<text x="4" y="{}">{}</text>',
        ((top + i * lane_h + 15, lane[:24] or "portal") for i, lane in enumerate(lanes)),
    )
    bars = []
    for run in runs:
        lane = lanes.index(run.target)
        begin = run.started_at or run.created_at
        x1 = x(begin)
        x2 = max(x(run.finished_at or now), x1 + 3)
        bars.append((f"/runs/{run.pk}/", f"{x1:.1f}", top + lane * lane_h + 4,
                     f"{x2 - x1:.1f}", run.status,
                     f"#{run.pk} {run.kind} {run.status} {duration(run.elapsed)}"))
    bar_html = format_html_join(
        "", '<a href="{}"><rect x="{}" y="{}" width="{}" height="14" rx="3" class="bar-{}">'
        "<title>{}</title></rect></a>", bars,
    )
    if not runs:
        labels = format_html('<text x="4" y="{}">no runs in the last {} hours</text>', top + 15,
                             hours)
    return format_html(
        '<svg class="timeline" viewBox="0 0 {} {}" role="img" aria-label="Run timeline">'
        "{}{}{}</svg>", width, height, ticks, labels, bar_html,
    )


def _ago_text(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return "just now"


@register.filter
def ago(moment):
    """A relative time ("5 min ago") with the exact time on hover (and for machines)."""
    if not moment:
        return "–"
    if isinstance(moment, str):
        parsed = parse_datetime(moment)
        if parsed is None:
            return moment
        moment = parsed
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    seconds = (timezone.now() - moment).total_seconds() if timezone.is_aware(moment) else 0
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(),
                       local.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), _ago_text(seconds))


def _plain(value):
    """JSON-able: dates as ISO text, anything else unknown as its text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@register.filter
def as_json(value) -> str:
    """Parameters, details and outputs as JSON (never a Python repr: no None, True, '')."""
    return json.dumps(_plain(value), indent=None, ensure_ascii=False, sort_keys=True)


@register.filter
def readable(value) -> str:
    """A value for a field on a page: yes/no, – for nothing, JSON for structures."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list | tuple):
        return as_json(value)
    return str(value)
