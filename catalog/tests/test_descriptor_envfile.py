"""`.env.example` parsing returns key names only."""

from catalog.descriptor import parse_env_keys, read_env_keys

SAMPLE = '''# comment line
DATABASE_URL=postgres://user:hunter2@db/app

export SECRET_KEY="s3cr3t value"
  REDIS_URL = redis://localhost:6379/0   # trailing comment
EMPTY=
BARE_KEY
QUOTED_MULTI="line one
NOT_A_KEY=inside the quoted value
still inside"
SINGLE='it''s'
AFTER=1
DATABASE_URL=duplicate
not a line = x
=novalue
'''


def test_it_returns_key_names_in_order_without_values():
    keys = parse_env_keys(SAMPLE)
    assert keys == ["DATABASE_URL", "SECRET_KEY", "REDIS_URL", "EMPTY", "BARE_KEY",
                    "QUOTED_MULTI", "SINGLE", "AFTER"]
    joined = " ".join(keys)
    for secret in ("hunter2", "s3cr3t", "redis://", "NOT_A_KEY"):
        assert secret not in joined


def test_read_env_keys_missing_file_and_size_cap(tmp_path):
    assert read_env_keys(tmp_path / "nope") == []
    env = tmp_path / ".env.example"
    env.write_text("A=1\nexport B=2\n")
    assert read_env_keys(env) == ["A", "B"]
    env.write_text("A=" + "x" * 100)
    try:
        read_env_keys(env, max_bytes=10)
    except ValueError as exc:
        assert "larger than 10 bytes" in str(exc)
    else:
        raise AssertionError("expected ValueError")
