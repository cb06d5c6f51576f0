"""The Content-Security-Policy allows scripts and styles from the portal's own files only
(portal.middleware.CSP): a template with an inline style attribute, an inline event
handler or an inline script would be silently broken in every browser. None has one."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE = {
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    # a <script> without src= is inline, unless it only carries data
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
}


def test_no_template_has_inline_styles_or_scripts():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for what, pattern in INLINE.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(TEMPLATES)}:{line}: {what}")
    assert not found, found


def test_the_check_finds_what_it_looks_for():
    samples = {'<div style="x">': "style attribute", '<a onclick="x()">': "event handler",
               "<script>alert(1)</script>": "inline script",
               "<style>p{}</style>": "<style> element"}
    for sample, what in samples.items():
        assert INLINE[what].search(sample), sample
    assert not INLINE["inline script"].search('<script src="/static/portal.js"></script>')
    assert not INLINE["inline script"].search('<script type="application/json" id="x">')
