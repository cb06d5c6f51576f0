"""Review: the redactor must catch a secret in the forms tools print it in, JSON included."""

from __future__ import annotations

import json

import pytest

from portal.lib.redact import Redactor


@pytest.mark.parametrize("secret", [
    'pa"ss-word-1234',          # a quote: JSON prints \"
    "back\\slash-secret",       # a backslash: JSON prints \\
    "p\u00e4ssw\u00f6rd-lang",  # non-ASCII: json.dumps prints \u00e4 by default
    "tab\tinside-secret",       # a control character: JSON prints \t
])
def test_json_escaped_forms_of_a_secret_are_redacted(secret):
    redactor = Redactor([secret])
    for text in (json.dumps({"value": secret}),
                 json.dumps({"value": secret}, ensure_ascii=False),
                 json.dumps(json.dumps({"value": secret}))):  # JSON inside a JSON string
        clean = redactor(text)
        assert secret not in clean
        for form in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
            assert form not in clean, (text, clean)
        assert "***" in clean
