"""Restore where renaming is not possible: safety backup, then an all-or-nothing in-place
restore. Real PostgreSQL roles with exactly the privileges the README asks for.

Roles (per test): ``dbo`` owns the live database (as a managed service's platform role would),
``app`` owns the tables, ``ro`` reads (pg_read_all_data), ``restorer`` is the admin_url role:
CREATEDB (scratch databases) and a member of ``app`` -- enough for ``pg_restore --clean`` to
drop and re-create app's objects as app, not enough to rename a database it does not own.
``app`` holds CREATE on the database (CREATE SCHEMA) and on schema public (CREATE TABLE), as
an application that creates its own schema does.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from envs.backups.models import Backup, BackupSource
from portal.lib import pg

from .test_backups_runs import (  # noqa: F401 - fixtures
    ADMIN,
    SCHEMA_SQL,
    SECRET,
    _sql,
    assert_no_secrets,
    env,
    keys,
    run_backup,
    run_restore,
    run_text,
)


class ManagedDb:
    def __init__(self, owned_by_app: bool):
        sfx = uuid.uuid4().hex[:8]
        self.name = f"bki_{sfx}"
        self.dbo, self.app, self.ro, self.restorer = (f"bki_{r}_{sfx}" for r in
                                                      ("dbo", "app", "ro", "rst"))
        for role in (self.dbo, self.app, self.ro, self.restorer):
            _sql(ADMIN, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(SECRET)).as_string())
        _sql(ADMIN, f'GRANT pg_read_all_data TO "{self.ro}"')
        _sql(ADMIN, f'ALTER ROLE "{self.restorer}" CREATEDB')
        _sql(ADMIN, f'GRANT "{self.app}" TO "{self.restorer}"')
        pg.create_database(ADMIN, self.name, owner=self.app if owned_by_app else self.dbo)
        self.admin_db = pg.PgConn.parse(ADMIN).with_db(self.name)
        pg.run_psql(self.admin_db, f'GRANT CREATE ON DATABASE "{self.name}" TO "{self.app}";'
                                   f'GRANT CREATE ON SCHEMA public TO "{self.app}";'
                                   f'SET ROLE "{self.app}";\n' + SCHEMA_SQL)
        pw = quote(SECRET, safe="")
        self.url = f"postgresql://{self.ro}:{pw}@127.0.0.1:5432/{self.name}"
        self.admin_url = f"postgresql://{self.restorer}:{pw}@127.0.0.1:5432/postgres"

    def as_app(self, text: str) -> None:
        pg.run_psql(self.admin_db, f'SET ROLE "{self.app}";\n{text}')

    def checksums(self) -> dict:
        return pg.table_checksums(self.admin_db)

    def related_databases(self) -> list[str]:
        rows = _sql(ADMIN, "SELECT datname FROM pg_database WHERE datname LIKE %s",
                    self.name + "%")
        return sorted(r[0] for r in rows)

    def table_owners(self) -> set[str]:
        rows = _sql(self.admin_db.conninfo(), "SELECT DISTINCT tableowner FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        return {r[0] for r in rows}

    def drop(self) -> None:
        for name in self.related_databases():
            pg.drop_database(ADMIN, name)
        for role in (self.restorer, self.ro, self.app, self.dbo):
            _sql(ADMIN, f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def managed(request):
    # not_owner: the restorer cannot rename a database owned by dbo.
    # in_use: it could (member of the owner app), but a superuser session holds the database.
    case = getattr(request, "param", "not_owner")
    db = ManagedDb(owned_by_app=case == "in_use")
    db.case = case
    yield db
    db.drop()


@pytest.fixture
def source(env, managed):  # noqa: F811
    return BackupSource.objects.create(environment=env, name="ledger", database_url=managed.url,
                                       admin_url=managed.admin_url)


def _backup_and_damage(source, managed):
    before = managed.checksums()
    run = run_backup(source)
    assert run.status == "succeeded", run_text(run)
    managed.as_app("DELETE FROM orders WHERE id > 100; DROP TABLE empty_t; "
                   "INSERT INTO customers (name) VALUES ('late'); CREATE TABLE late_t (x int);"
                   "INSERT INTO late_t VALUES (1), (2);")
    return Backup.objects.get(), before, managed.checksums()


@pytest.mark.parametrize("managed", ["not_owner", "in_use"], indirect=True)
def test_restore_in_place_after_a_safety_backup(s3, source, managed):  # noqa: F811
    backup, before, damaged = _backup_and_damage(source, managed)
    # A superuser session on the live database: a restorer may never terminate it.
    with psycopg.connect(managed.admin_db.conninfo(), autocommit=True) as held:
        restore = run_restore(backup)
        assert held.execute("SELECT 1").fetchone() == (1,)  # never terminated
    text = run_text(restore)
    assert restore.status == "succeeded", text
    r = restore.result
    assert r["path"] == "in_place" and r["kept_as"] is None
    assert r["extra_tables"] == ["public.late_t"] and r["recheck_problems"] == []
    reason = "neither owns database" if managed.case == "not_owner" else \
        "that " + managed.restorer + " may not terminate"
    assert reason in text and "IN-PLACE" in text
    # The safety backup: a verified Backup of the damaged state, named in the log.
    safety = Backup.objects.get(pk=r["safety_backup"])
    assert safety.reason.startswith(f"safety backup before in-place restore of backup "
                                    f"#{backup.pk}")
    assert safety.verification == "verified" and safety.key.endswith("-safety.dump.zst")
    assert safety.row_counts["public.orders"] == 100 and "public.late_t" in safety.row_counts
    assert safety.key in keys(s3) and safety.key in text
    # Live: exactly the backed-up contents (plus the table created since, left alone),
    # owned by app as before, no scratch or renamed database left.
    now = managed.checksums()
    assert now.pop("public.late_t") == damaged["public.late_t"]
    assert now == before
    assert managed.table_owners() == {managed.app}
    assert managed.related_databases() == [managed.name]
    assert_no_secrets(text)


def test_in_place_failure_rolls_back_and_keeps_the_safety_backup(s3, s3srv, source,  # noqa: F811
                                                                 managed):
    backup, _before, damaged = _backup_and_damage(source, managed)
    s3srv.corrupt_get(backup.key, skip=1)  # the scratch restore reads it intact, then not
    restore = run_restore(backup)
    s3srv.clear_faults()
    text = run_text(restore)
    assert restore.status == "failed", text
    assert "was rolled back" in restore.error and "sha256 mismatch" in restore.error
    safety = Backup.objects.exclude(pk=backup.pk).get()
    assert safety.key in restore.error and safety.verification == "verified"
    assert managed.checksums() == damaged
    assert managed.related_databases() == [managed.name]
    assert managed.table_owners() == {managed.app}
