"""Entity references as the catalog pages show them: ``group:default/platform-team`` reads
``platform-team`` (the kind is in its column or badge; the namespace only when it is not
"default"), with the full reference on hover."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def short_ref(ref) -> str:
    """``kind:default/name`` -> ``name``; ``kind:ns/name`` -> ``ns/name``."""
    body = str(ref or "").split(":", 1)[-1]
    return body[len("default/"):] if body.startswith("default/") else body


@register.filter
def ref_text(ref) -> str:
    """The short form in a ``<span>`` whose title is the full reference."""
    if not ref:
        return ""
    return format_html('<span class="ref" title="{}">{}</span>', ref, short_ref(ref))
