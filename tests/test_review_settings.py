"""Review: the host taken from PORTAL_PUBLIC_URL must be usable as an allowed host."""

from __future__ import annotations

from .test_settings import _manage


def test_ipv6_public_url_is_an_allowed_host(tmp_path):
    # "https://[2001:db8::1]:8443".split(":")[0] gave "[2001": every request answered 400.
    code = ("from django.conf import settings as s; from django.test import RequestFactory; "
            "r = RequestFactory().get('/', HTTP_HOST='[2001:db8::1]:8443', secure=True); "
            "print(s.ALLOWED_HOSTS[0], r.get_host())")
    result = _manage(["shell", "-c", code], {"PORTAL_PUBLIC_URL": "https://[2001:db8::1]:8443"},
                     tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[2001:db8::1] [2001:db8::1]:8443"
