"""Backup sources of an environment, the backups in the bucket, and restore drills.

A BackupSource is a PostgreSQL database (or a git repository) of an environment. Its URLs and
keys live only in encrypted fields and are decrypted in the worker right before use. A Backup
row exists only for an object that was uploaded completely (a failed upload leaves no object
and no row: the failed run says why). Restores are runs (kind ``restore``) whose ``params``
name the backup and whose ``result`` says where the old database was kept. What the owner
can do with them (start a backup, a restore, a drill) is in services.py.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, time, timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from envs.models import Environment, dns_label
from portal.lib.clickhouse import ClickHouseConn, ClickHouseError
from portal.lib.crypto import EncryptedTextField
from portal.lib.pg import PgConn, PgError
from portal.runs.models import Run

KEY_PREFIX = "backups"


class Kind(models.TextChoices):
    POSTGRES = "postgres", "PostgreSQL database"
    GIT = "git", "Git repository mirror"
    VOLUME = "volume", "Volume (files, restic)"
    CLICKHOUSE = "clickhouse", "ClickHouse databases"


class Frequency(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


class Verification(models.TextChoices):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


class BackupSource(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE,
                                    related_name="backup_sources")
    name = models.CharField(max_length=63, validators=[dns_label])
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.POSTGRES)
    # PostgreSQL: a role that can read everything (pg_read_all_data) ...
    database_url = EncryptedTextField(null=True, blank=True)
    # ... and one that may CREATE/RENAME DATABASE for restores (empty: database_url).
    admin_url = EncryptedTextField(null=True, blank=True)
    # Git: the repository to mirror, and an optional HTTPS token (never put in argv).
    repo_url = EncryptedTextField(null=True, blank=True)
    repo_token = EncryptedTextField(null=True, blank=True)
    # Volume: a directory on the worker's host (k3s local-path volumes live under
    # /var/lib/rancher/k3s/storage), backed up with restic; globs relative to it.
    path = models.CharField(max_length=1000, blank=True)
    include = models.JSONField(default=list, blank=True)
    exclude = models.JSONField(default=list, blank=True)
    # ClickHouse: the databases to BACKUP (database_url holds the http(s):// URL).
    databases = models.JSONField(default=list, blank=True)
    # Schedule, in UTC. Weekly runs on `weekday` (0 = Monday).
    frequency = models.CharField(max_length=10, choices=Frequency.choices,
                                 default=Frequency.DAILY)
    at = models.TimeField(default=time(2, 0))
    weekday = models.PositiveSmallIntegerField(default=6, validators=[MaxValueValidator(6)])
    last_scheduled_at = models.DateTimeField(null=True, blank=True)
    # Retention: keep_days, unless any of the counts is set (then daily/weekly/monthly slots).
    keep_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    keep_daily = models.PositiveIntegerField(null=True, blank=True)
    keep_weekly = models.PositiveIntegerField(null=True, blank=True)
    keep_monthly = models.PositiveIntegerField(null=True, blank=True)
    # Client-side encryption on top of the bucket's own; the key stays in the encrypted store.
    # For a volume it is the restic repository's password (restic always encrypts).
    encrypt = models.BooleanField(default=False)
    encryption_key = EncryptedTextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["environment__name", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"],
                                               name="backupsource_name_per_env")]

    def __str__(self) -> str:
        return f"{self.environment.name}/{self.name}"

    def save(self, *args, **kwargs):
        if self.kind == Kind.VOLUME and not self.encryption_key:
            self.encryption_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        if self.encrypt and not self.encryption_key:
            self.encryption_key = base64.b64encode(os.urandom(32)).decode()
        super().save(*args, **kwargs)

    # --- naming -------------------------------------------------------------------------
    @property
    def lock_key(self) -> str:
        return f"backup:{self.environment.name}/{self.name}"

    @property
    def prefix(self) -> str:
        """Every object of this source lives under this prefix (retention lists it)."""
        return f"{KEY_PREFIX}/{self.environment.name}/{self.name}/"

    def new_key(self, run_id: int, now: datetime | None = None, tag: str = "") -> str:
        stamp = (now or timezone.now()).strftime("%Y%m%dT%H%M%SZ")
        exts: dict[str, str] = {Kind.GIT: "bundle", Kind.CLICKHOUSE: "clickhouse"}
        ext = exts.get(self.kind, "dump.zst")
        return f"{self.prefix}{stamp}-run{run_id}{'-' + tag if tag else ''}.{ext}"

    # --- secrets (worker only) ----------------------------------------------------------
    @property
    def restic_prefix(self) -> str:
        """The restic repository of a volume source, inside the source's prefix."""
        return f"{self.prefix}restic"

    def key_bytes(self) -> bytes | None:
        return base64.b64decode(self.encryption_key) if self.encryption_key else None

    def admin_conn(self) -> PgConn:
        """The admin connection, on a maintenance database (never the live one)."""
        live = self.live_database
        conn = PgConn.parse(self.admin_url or self.database_url or "")
        if conn.dbname in ("", live):
            conn = conn.with_db("postgres")
        return conn

    @property
    def live_database(self) -> str:
        try:
            return PgConn.parse(self.database_url or "").dbname
        except PgError:
            return ""

    def secrets(self) -> list[str]:
        """Every form of every secret, for the run's redactor."""
        values = [self.database_url, self.admin_url, self.repo_url, self.repo_token,
                  self.encryption_key]
        if self.kind == Kind.CLICKHOUSE:
            try:
                values.append(ClickHouseConn.parse(self.database_url or "").password)
            except ClickHouseError:
                pass
            return [v for v in values if v]
        for url in (self.database_url, self.admin_url):
            try:
                values.append(PgConn.parse(url).password if url else None)
            except PgError:
                pass
        return [v for v in values if v]

    def describe(self) -> str:
        """What the owner may see: kind, database and host, never the URL or user."""
        if self.kind == Kind.GIT:
            return "git mirror"
        if self.kind == Kind.VOLUME:
            parts = [f"volume {self.path}"]
            if self.include:
                parts.append("only " + ", ".join(self.include))
            if self.exclude:
                parts.append("excluding " + ", ".join(self.exclude))
            return "; ".join(parts)
        if self.kind == Kind.CLICKHOUSE:
            try:
                c = ClickHouseConn.parse(self.database_url or "")
            except ClickHouseError:
                return "unparsable ClickHouse URL"
            return f"ClickHouse {', '.join(self.databases)} on {c.host}:{c.port}"
        try:
            p = dict(PgConn.parse(self.database_url or "").params)
        except PgError:
            return "unparsable database URL"
        return f"database {p.get('dbname', '?')} on {p.get('host', '?')}:{p.get('port', 5432)}"

    # --- policy -------------------------------------------------------------------------
    @property
    def uses_counts(self) -> bool:
        return any(v is not None for v in (self.keep_daily, self.keep_weekly, self.keep_monthly))

    def retention_text(self) -> str:
        if not self.uses_counts:
            return f"keep {self.keep_days} days"
        parts = [f"{n} {label}" for n, label in ((self.keep_daily, "daily"),
                 (self.keep_weekly, "weekly"), (self.keep_monthly, "monthly")) if n]
        return "keep " + ", ".join(parts or ["none"]) + " (and always the newest verified)"

    def schedule_text(self) -> str:
        if self.frequency == Frequency.OFF:
            return "manual only"
        day = "" if self.frequency == Frequency.DAILY else \
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][self.weekday] + " "
        return f"{self.frequency} {day}{self.at:%H:%M} UTC"

    def last_slot(self, now: datetime) -> datetime | None:
        """The most recent scheduled instant at or before ``now`` (UTC)."""
        if self.frequency == Frequency.OFF:
            return None
        slot = now.replace(hour=self.at.hour, minute=self.at.minute, second=0, microsecond=0)
        if slot > now:
            slot -= timedelta(days=1)
        if self.frequency == Frequency.WEEKLY:
            slot -= timedelta(days=(slot.weekday() - self.weekday) % 7)
        return slot

    def is_due(self, now: datetime) -> bool:
        slot = self.last_slot(now)
        return slot is not None and slot > (self.last_scheduled_at or self.created_at)

    def latest_verified(self):
        return self.backups.filter(deleted_at__isnull=True,
                                   verification=Verification.VERIFIED).order_by("-created_at")\
            .first()


class Backup(models.Model):
    source = models.ForeignKey(BackupSource, on_delete=models.CASCADE, related_name="backups")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    key = models.CharField(max_length=500, unique=True)
    size = models.BigIntegerField(default=0, help_text="bytes stored in the bucket")
    raw_size = models.BigIntegerField(default=0, help_text="pg_dump / bundle bytes")
    sha256 = models.CharField(max_length=64)
    encrypted = models.BooleanField(default=False)
    tool_version = models.CharField(max_length=40, blank=True)  # pg_dump, git, restic, ...
    server_version = models.CharField(max_length=40, blank=True)
    duration = models.FloatField(default=0)
    # "schema.table" -> rows, counted in the dump's own snapshot (ClickHouse: "db.table";
    # a volume: {"files": n}). A volume's restic snapshot id is in `snapshot`.
    row_counts = models.JSONField(default=dict, blank=True)
    snapshot = models.CharField(max_length=80, blank=True)
    verification = models.CharField(max_length=10, choices=Verification.choices,
                                    default=Verification.PENDING)
    verify_detail = models.TextField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    flagged = models.TextField(blank=True, help_text="why this backup looks wrong (empty/small)")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=200, blank=True)
    # Why it was taken when not by a backup run, e.g. the safety backup of an in-place restore.
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backup #{self.pk} of {self.source}"

    @property
    def is_verified(self) -> bool:
        return self.verification == Verification.VERIFIED

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values()) if self.row_counts else 0


class Drill(models.Model):
    source = models.ForeignKey(BackupSource, on_delete=models.CASCADE, related_name="drills")
    backup = models.ForeignKey(Backup, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="drills")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="+")
    passed = models.BooleanField(default=False)
    # tables, rows expected/restored, mismatches, restore seconds, bytes, target server.
    figures = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
