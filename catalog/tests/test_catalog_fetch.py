"""The safe fetchers (portal/lib/safe_http.py, portal/lib/gitfetch.py) on their own."""

from __future__ import annotations

import os

import pytest

from portal.lib import gitfetch, safe_http
from portal.lib.safe_http import FetchError

from .conftest import git


@pytest.mark.parametrize("address,public", [
    ("140.82.112.3", True), ("2606:50c0:8000::153", True),
    ("127.0.0.1", False), ("10.0.0.8", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("::ffff:127.0.0.1", False), ("fe80::1", False), ("fd00:ec2::254", False),
    ("224.0.0.1", False),
])
def test_only_public_addresses_pass(address, public):
    assert safe_http.is_public_address(address) is public


def test_check_url_refusals():
    allowed = ["github.com", "*.githubusercontent.com", "localhost"]
    with pytest.raises(FetchError, match="only https"):
        safe_http.check_url("http://github.com/x", allowed)
    with pytest.raises(FetchError, match="not in PORTAL_CATALOG_ALLOWED_HOSTS"):
        safe_http.check_url("https://github.com.evil.org/x", allowed)
    with pytest.raises(FetchError, match="not in PORTAL_CATALOG_ALLOWED_HOSTS"):
        safe_http.check_url("https://githubusercontent.com.evil.org/x", allowed)
    with pytest.raises(FetchError, match="credentials"):
        safe_http.check_url("https://token@github.com/x", allowed)
    with pytest.raises(FetchError, match="loopback"):
        safe_http.check_url("https://localhost/x", allowed)
    with pytest.raises(FetchError, match="loopback"):
        safe_http.get("https://localhost:8443/x", allowed_hosts=allowed, timeout=2)


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/pwned", "file:///etc", "ssh://git@github.com/a/b",
    "git://github.com/a/b", "http://github.com/a/b",
])
def test_git_refuses_other_transports(tmp_path, url):
    with pytest.raises(FetchError, match="refused"):
        gitfetch.fetch(url, "main", cache_dir=tmp_path, allowed_hosts=["github.com"])


def test_git_refuses_a_local_repository_unless_allowed_and_bad_refs(tmp_path, bare_repo):
    bare, _work = bare_repo
    with pytest.raises(FetchError, match="refused"):
        gitfetch.fetch(str(bare), "main", cache_dir=tmp_path / "c")
    for ref in ("--upload-pack=id", "a..b", "-x", "main@{1}"):
        with pytest.raises(FetchError, match="invalid ref"):
            gitfetch.fetch(str(bare), ref, cache_dir=tmp_path / "c", allow_local=True)
    with pytest.raises(FetchError, match="token is only sent to https"):
        gitfetch.fetch(str(bare), "main", "t0k3n", cache_dir=tmp_path / "c", allow_local=True)


def test_git_checkout_symlinks_become_files_and_size_is_capped(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "catalog-info.yaml").symlink_to("/etc/passwd")
    (work / "big.bin").write_bytes(os.urandom(3 * 2**20))
    git("init", "-q", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "x", cwd=work)
    with gitfetch.fetch(str(work), "main", cache_dir=tmp_path / "c", allow_local=True,
                        log=lambda _t: None) as checkout:
        link = checkout.path / "catalog-info.yaml"
        assert not link.is_symlink() and link.read_text() == "/etc/passwd"
        assert checkout.commit == git("rev-parse", "HEAD", cwd=work)
    with pytest.raises(FetchError, match="larger than 1 MB"):
        gitfetch.fetch(str(work), "main", cache_dir=tmp_path / "d", allow_local=True,
                       max_bytes=2**20)
    assert gitfetch.git_version() >= (2, 37)
