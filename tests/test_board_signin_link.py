"""`make signin-link` from a second shell (scripts/signin-link): it finds the running
portal through the pointer `scripts/portal run` leaves, or fails with one line naming
PORTAL_DATA_DIR; never a traceback, never a data directory created."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "signin-link"


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("PORTAL_DATA_DIR", "DATABASE_URL", "PORTAL_PUBLIC_URL")}
    base["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")
    return subprocess.run([str(SCRIPT)], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_no_portal_found_is_one_line_naming_the_setting(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "PORTAL_DATA_DIR" in done.stderr
    missing = tmp_path / "nope"
    done = run(tmp_path, PORTAL_DATA_DIR=str(missing))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert f"PORTAL_DATA_DIR={missing} does not exist" in done.stderr
    assert not missing.exists()


def test_the_pointer_names_the_data_dir_and_an_error_stays_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "runtime").mkdir()
    pointer = tmp_path / "runtime" / f"eaas-portal-{os.getuid()}.json"
    pointer.write_text(json.dumps({"data_dir": str(data), "port": 8123}))
    (data / "runner.json").write_text(json.dumps({"public_url": "http://127.0.0.1:8123"}))
    done = run(tmp_path)  # an empty data directory: no database yet
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"PORTAL_DATA_DIR={data}" in done.stderr
