"""``{% form_refusal %}``: the refusal the previous request left for this page (see
portal.runs.pages.refuse), as a JSON blob static/forms.js reads; nothing otherwise."""

from __future__ import annotations

from django import template
from django.utils.html import json_script

from portal.runs.pages import pop_refusal

register = template.Library()


@register.simple_tag(takes_context=True)
def form_refusal(context) -> str:
    request = context.get("request")
    kept = pop_refusal(request) if request is not None else None
    return json_script(kept, "form-refusal") if kept else ""
