"""Review: the redactor must catch a secret in the forms tools print it in, JSON included."""

from __future__ import annotations

import base64
import json
import textwrap

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


def test_percent_encoding_in_lower_case_hex_is_redacted():
    secret = "p@ss/w:rd&more=1"
    redactor = Redactor([secret])
    for text in ("https://u:p%40ss%2Fw%3Ard%26more%3D1@h/db",   # urllib's upper case
                 "https://u:p%40ss%2fw%3ard%26more%3d1@h/db",   # Go's url package, curl
                 "https://u:p%40ss%2Fw%3ard%26more%3D1@h/db"):  # mixed
        assert redactor(text) == "https://u:***@h/db", text


def _encodings(secret: bytes, encoder) -> list[str]:
    return [encoder(b"\0" * offset + secret).decode().rstrip("=")[offset and 4:]
            for offset in range(3)]


@pytest.mark.parametrize("width", [64, 76])
@pytest.mark.parametrize("encoder", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("before, after", [(b"", b""), (b"k", b""), (b"ke", b"y"),
                                           (b"header: ", b"\ntrailer")])
def test_base64_wrapped_into_lines_is_redacted_line_by_line(width, encoder, before, after):
    """`base64` wraps at 76 columns and PEM at 64: a long secret (a kubeconfig, a key) spans
    lines, so no single line holds a whole encoded form. At most 7 characters of the
    encoding (5 bytes of the secret) may stay visible where the secret starts or ends."""
    secret = "-----BEGIN KEY-----\n" + base64.b64encode(bytes(range(256)) * 2).decode() + \
             "\n-----END KEY-----"
    redactor = Redactor([secret])
    stream = encoder(before + secret.encode() + after).decode()
    wrapped = "\n".join(textwrap.wrap(stream, width))
    clean = redactor(wrapped)
    assert clean.count("***") >= len(wrapped.splitlines()) - 2
    forms = _encodings(secret.encode(), encoder)
    visible = clean.replace("***", "\n").replace("=", "\n").split()
    leaked = [piece for piece in visible for i in range(len(piece) - 7)
              if any(piece[i:i + 8] in form for form in forms)]
    assert not leaked, clean


def test_wrapped_base64_check_leaves_other_output_alone():
    redactor = Redactor([base64.b64encode(bytes(range(200))).decode() + "-long-secret"])
    text = ("module.app.terraform_data.item[3]: Creation complete [id=6b1f0c2e-1d2a-4f3b]\n"
            "sha256:4f2b0a6c1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a\n"
            "aGVsbG8gd29ybGQgdGhpcyBpcyBub3QgYSBzZWNyZXQ=\n"
            "Cg==\nshort\nLS0tLS1CRUdJTg==\n")
    assert redactor(text) == text
