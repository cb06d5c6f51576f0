"""Settings from the environment: typed helpers, *_FILE, https hardening, check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.lib import envconf as ec

ROOT = Path(__file__).resolve().parent.parent


def test_typed_helpers_parse_and_fail_loudly(tmp_path):
    env = {"A": "yes", "B": "nah", "N": "12", "BAD": "twelve", "L": "a, b,,c", "IDS": "1,2"}
    assert ec.env_bool("A", env=env) is True
    with pytest.raises(ec.ConfigError, match="B: expected a boolean"):
        ec.env_bool("B", env=env)
    assert ec.env_int("N", 0, env=env) == 12
    with pytest.raises(ec.ConfigError, match="BAD: expected an integer"):
        ec.env_int("BAD", 0, env=env)
    with pytest.raises(ec.ConfigError, match="N: must be <= 4"):
        ec.env_int("N", 0, env=env, maximum=4)
    assert ec.env_list("L", env=env) == ["a", "b", "c"]
    assert ec.env_int_list("IDS", env=env) == [1, 2]
    with pytest.raises(ec.ConfigError, match="expected numeric ids"):
        ec.env_int_list("L", env=env)
    secret = tmp_path / "s"
    secret.write_text("from-file\n")
    assert ec.env_str("S", env={"S_FILE": str(secret)}) == "from-file"
    with pytest.raises(ec.ConfigError, match="both set"):
        ec.env_str("S", env={"S": "x", "S_FILE": str(secret)})
    with pytest.raises(ec.ConfigError, match="cannot read"):
        ec.env_str("S", env={"S_FILE": str(tmp_path / "missing")})
    with pytest.raises(ec.ConfigError, match="not an IP address"):
        ec.env_networks("P", env={"P": "10.0.0.0/8, nonsense"})


def test_database_urls(tmp_path):
    pg = ec.database_config("postgres://u:p%40ss@db.example:6543/portal?sslmode=require", tmp_path)
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "portal", "u", "p@ss", "db.example", "6543")
    assert pg["OPTIONS"] == {"sslmode": "require"}
    lite = ec.database_config("sqlite:///var/x.sqlite3", tmp_path)
    assert lite["NAME"] == str(tmp_path / "var/x.sqlite3")
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in lite["OPTIONS"]["init_command"]
    assert ec.database_config("sqlite:////abs/db.sqlite3", tmp_path)["NAME"] == "/abs/db.sqlite3"
    with pytest.raises(ec.ConfigError, match="unsupported scheme"):
        ec.database_config("mysql://x/y", tmp_path)


def _manage(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PORTAL_", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW"))}
    env.update({"PORTAL_DATA_DIR": str(tmp_path)}, **env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_https_and_production_values(tmp_path):
    from cryptography.fernet import Fernet

    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], {
        "PORTAL_PUBLIC_URL": "https://portal.example.com",
        "PORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PORTAL_SECRET_KEY": "x7" * 30 + "production-value-with-entropy-1234567890",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    }, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_public_url_turns_on_the_hardening(tmp_path):
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
            "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
            "s.SECURE_PROXY_SSL_HEADER, s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS)")
    result = _manage(["shell", "-c", code], {"PORTAL_PUBLIC_URL": "https://p.example.com"},
                     tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') ['p.example.com'] "
        "['https://p.example.com']")


def test_missing_key_with_a_database_url_is_a_startup_error(tmp_path):
    result = _manage(["check"], {"DATABASE_URL": "postgres://postgres@127.0.0.1/postgres",
                                 "PORTAL_SECRET_KEY": "x"}, tmp_path)
    assert result.returncode != 0
    assert "PORTAL_ENCRYPTION_KEYS" in result.stderr


def test_bad_values_name_the_variable(tmp_path):
    result = _manage(["check"], {"PORTAL_WORKERS": "many"}, tmp_path)
    assert result.returncode != 0 and "PORTAL_WORKERS: expected an integer" in result.stderr


def test_embedded_default_generates_private_key_files(tmp_path):
    result = _manage(["check"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("encryption.key", "secret.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_env_example_lists_every_variable_the_settings_read():
    import re

    read = set()
    for path in [ROOT / "config" / "settings.py"]:
        read |= set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', path.read_text()))
        read |= set(re.findall(r'public_url\(\s*"([A-Z_]+)"', path.read_text()))
    read |= {"PORTAL_PUBLIC_URL"}
    # ... and the entry script's ${NAME:-default} (gunicorn's workers, address, proxies).
    script = (ROOT / "scripts" / "portal").read_text()
    # PORTAL_PYTHON is the image's; XDG_RUNTIME_DIR the login session's (where the runner
    # leaves a pointer for `make signin-link`): neither is the portal's to configure.
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", script)) - {"PORTAL_PYTHON",
                                                                     "XDG_RUNTIME_DIR"}
    assert {"WEB_CONCURRENCY", "WEB_THREADS", "HOST", "PORT"} <= read
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert read - listed == set(), f"missing from .env.example: {sorted(read - listed)}"


def test_readme_documents_every_variable():
    import re

    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.M))
    assert len(names) > 30
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README misses {missing}: run scripts/config-reference"


def test_key_files_are_created_whole_and_an_empty_one_is_refused(tmp_path):
    from portal.lib.keys import ensure_file

    path = tmp_path / "k" / "encryption.key"
    assert ensure_file(path, lambda: "first") == "first"
    assert ensure_file(path, lambda: "second") == "first"  # never replaced
    assert path.stat().st_mode & 0o777 == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    path.write_text("")
    with pytest.raises(RuntimeError, match="is empty"):
        ensure_file(path, lambda: "third")
