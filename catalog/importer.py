"""Import one Location: read -> parse -> validate -> resolve (``catalog.sources``), then
commit in ONE transaction, all-or-nothing.

``import_location(location, log=..., secret=..., dry_run=False, run=None) -> Outcome``

* Any error (a bad file, an invalid entity, an entity already defined by another location,
  an unreadable source) changes nothing of the location's entities or relations: the
  errors are stored on the location and on the entities they name, and the previous good
  version stays.
* An entity whose stored fingerprint (descriptor hash, position, config keys, warnings)
  is unchanged is not written; an unchanged re-import issues a handful of queries.
* Entities that vanished from the source are marked orphaned (not deleted).
* Relations are stored in both directions; a target that is not in the catalog is kept
  with ``target_exists = False`` and becomes True when an import brings that entity.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.descriptor import CatalogEntity, CatalogResult, Issue

from . import sources
from .choices import ImportStatus
from .models import Entity, Location, Relation

__all__ = ["Outcome", "format_issue", "import_location"]

CHUNK = 2000
BATCH = 1000
_UPDATE_FIELDS = [
    "kind", "namespace", "name", "api_version", "type", "lifecycle", "owner", "system",
    "title", "description", "tags", "annotations", "labels", "links", "raw", "sha256",
    "fingerprint", "file", "line", "column", "orphaned", "config_keys", "environments",
    "errors", "warnings", "has_errors", "tag_index", "env_index", "search", "updated_at",
]


@dataclass
class Outcome:
    ok: bool = False
    dry_run: bool = False
    entities: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    orphaned: int = 0
    relations_added: int = 0
    relations_removed: int = 0
    commit: str = ""
    files: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    # Filled by a dry run: which refs would be created, updated, orphaned.
    preview: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict:
        data = {k: getattr(self, k) for k in (
            "ok", "dry_run", "entities", "created", "updated", "unchanged", "orphaned",
            "relations_added", "relations_removed", "commit")}
        data.update(errors=len(self.errors), warnings=len(self.warnings), files=len(self.files))
        return data


def format_issue(issue: dict) -> str:
    """``file:line:col: entity field: message`` (the CLI's and the run log's form)."""
    what = " ".join(p for p in (issue.get("entity"), issue.get("field")) if p)
    where = f"{issue.get('file')}:{issue.get('line', 0)}:{issue.get('column', 0)}"
    return f"{where}: {what}: {issue['message']}" if what else f"{where}: {issue['message']}"


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def import_location(
    location: Location,
    *,
    log: Callable[[str], None] = lambda _t: None,
    secret: Callable[..., None] = lambda *_v: None,
    dry_run: bool = False,
    run=None,
) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(dry_run=dry_run)
    try:
        source = sources.read(location, log, secret)
    except sources.SourceError as exc:
        source = sources.Source(CatalogResult())
        source.result.add(Issue(location.target, 0, 0, None, None, str(exc)))
    result = source.result
    outcome.commit = source.commit
    outcome.files = list(result.files)
    outcome.entities = len(result.entities)
    log(f"read {len(result.files)} file(s): {len(result.entities)} entities, "
        f"{len(result.relations)} relations, {len(result.errors)} error(s), "
        f"{len(result.warnings)} warning(s) in {time.monotonic() - started:.2f} s")
    errors = [i.to_dict() for i in result.errors]
    errors += [i.to_dict() for i in _duplicates(location, result.entities)]
    outcome.errors = errors
    outcome.warnings = [i.to_dict() for i in result.warnings]
    outcome.refs = [e.ref for e in result.entities]
    if dry_run:
        outcome.ok = not errors
        _preview(location, result, outcome)
        return outcome
    with transaction.atomic():
        # Serialise with any other writer of this location (the run lock normally does).
        Location.objects.select_for_update().filter(pk=location.pk).first()
        if errors:
            _store_failure(location, outcome, run)
        else:
            _commit(location, result, outcome, run)
    log(f"{'committed' if outcome.ok else 'nothing changed'} in "
        f"{time.monotonic() - started:.2f} s: created {outcome.created}, updated "
        f"{outcome.updated}, unchanged {outcome.unchanged}, orphaned {outcome.orphaned}; "
        f"relations +{outcome.relations_added} -{outcome.relations_removed}")
    return outcome


def _duplicates(location: Location, entities: list[CatalogEntity]) -> list[Issue]:
    """Entities this location defines that another location already owns."""
    by_ref = {e.ref: e for e in entities}
    issues = []
    for chunk in _chunks(list(by_ref)):
        taken = (Entity.objects.filter(ref__in=chunk).exclude(location_id=location.pk)
                 .select_related("location").only("ref", "file", "line", "location"))
        for other in taken:
            mine = by_ref[other.ref]
            issues.append(Issue(
                mine.file, mine.line, mine.column, mine.ref, "metadata.name",
                f"duplicate entity {mine.ref}: already defined by location "
                f"#{other.location_id} ({other.location}) in {other.file} line {other.line}; "
                f"this location is #{location.pk} ({location})"))
    return issues


def _issues_by_entity(location: Location, issues: list[dict]) -> dict[int, list[dict]]:
    """Errors per stored entity: named by ref, or (file-level) by the file they came from."""
    named = defaultdict(list)
    by_file = defaultdict(list)
    for issue in issues:
        if issue.get("entity"):
            named[issue["entity"]].append(issue)
        else:
            by_file[issue.get("file")].append(issue)
    out: dict[int, list[dict]] = {}
    rows = location.entities.values_list("id", "ref", "file", "has_errors")
    for pk, ref, file, had in rows:
        mine = named.get(ref, []) + by_file.get(file, [])
        if mine or had:
            out[pk] = mine
    return out


def _store_failure(location: Location, outcome: Outcome, run) -> None:
    updates = [Entity(pk=pk, errors=errs, has_errors=bool(errs))
               for pk, errs in _issues_by_entity(location, outcome.errors).items()]
    Entity.objects.bulk_update(updates, ["errors", "has_errors"], batch_size=BATCH)
    now = timezone.now()
    Location.objects.filter(pk=location.pk).update(
        status=ImportStatus.FAILED, errors=outcome.errors, warnings=outcome.warnings,
        last_attempt_at=now, last_run=run, updated_at=now,
    )


# One encoder for every fingerprint: json.dumps with options builds one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _fingerprint(e: CatalogEntity, warnings: list[dict]) -> str:
    data = _CANONICAL.encode([e.sha256, e.file, e.line, e.column, e.config_keys, warnings])
    return hashlib.sha256(data.encode()).hexdigest()


def _row(location: Location, e: CatalogEntity, warnings: list[dict], fingerprint: str,
         now) -> Entity:
    tags = [str(t) for t in e.tags]
    return Entity(
        ref=e.ref, kind=e.kind.lower(), namespace=e.namespace, name=e.name,
        api_version=e.api_version, type=e.spec_type or "", lifecycle=e.lifecycle or "",
        owner=e.owner or "", system=e.system or "", title=e.title or "",
        description=e.description or "", tags=tags, annotations=e.annotations,
        labels=e.labels, links=e.links, raw=e.raw, sha256=e.sha256,
        fingerprint=fingerprint, file=e.file, line=e.line, column=e.column,
        location=location, orphaned=False, config_keys=e.config_keys,
        environments=e.environments, errors=[], warnings=warnings, has_errors=False,
        tag_index="," + ",".join(t.lower() for t in tags) + "," if tags else "",
        env_index="," + ",".join(e.environments) + "," if e.environments else "",
        search=" ".join([e.ref, e.title or "", e.description or "", *tags]).lower(),
        created_at=now, updated_at=now,
    )


def _warnings_of(outcome: Outcome) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for w in outcome.warnings:
        if w.get("entity"):
            out[w["entity"]].append(w)
    return out


def _preview(location: Location, result: CatalogResult, outcome: Outcome) -> None:
    """What an import would do, as ``_commit`` decides it, writing nothing."""
    stored = ({ref: (fp, orphaned, had) for ref, fp, orphaned, had in
               location.entities.values_list("ref", "fingerprint", "orphaned", "has_errors")}
              if location.pk else {})
    warnings_of = _warnings_of(outcome)
    created, updated = [], []
    for e in result.entities:
        old = stored.get(e.ref)
        if old is None:
            created.append(e.ref)
        elif old[0] != _fingerprint(e, warnings_of.get(e.ref, [])) or old[1] or old[2]:
            updated.append(e.ref)
    present = {e.ref for e in result.entities}
    orphaned = sorted(ref for ref, (_fp, was_orphan, _h) in stored.items()
                      if ref not in present and not was_orphan)
    outcome.preview = {"created": created, "updated": updated, "orphaned": orphaned}
    outcome.created, outcome.updated, outcome.orphaned = len(created), len(updated), len(orphaned)
    outcome.unchanged = len(result.entities) - len(created) - len(updated)
    outcome.relations_added = len(result.relations)


def _commit(location: Location, result: CatalogResult, outcome: Outcome, run) -> None:
    now = timezone.now()
    warnings_of = _warnings_of(outcome)
    stored = {ref: (pk, fp, orphaned, had)
              for pk, ref, fp, orphaned, had in location.entities.values_list(
                  "id", "ref", "fingerprint", "orphaned", "has_errors")}
    to_create, to_update, fingerprints = [], [], []
    for e in result.entities:
        warnings = warnings_of.get(e.ref, [])
        fingerprint = _fingerprint(e, warnings)
        fingerprints.append(fingerprint)
        old = stored.get(e.ref)
        if old is not None and old[1] == fingerprint and not old[2] and not old[3]:
            continue  # unchanged: not even a model instance is built
        row = _row(location, e, warnings, fingerprint, now)
        if old is None:
            to_create.append(row)
        else:
            row.pk = old[0]
            to_update.append(row)
    _insert_entities(to_create)
    Entity.objects.bulk_update(to_update, _UPDATE_FIELDS, batch_size=BATCH)
    present = {e.ref for e in result.entities}
    vanished = [pk for ref, (pk, _fp, orphaned, _h) in stored.items()
                if ref not in present and not orphaned]
    for chunk in _chunks(vanished):
        Entity.objects.filter(pk__in=chunk).update(orphaned=True, updated_at=now)
    outcome.created, outcome.updated = len(to_create), len(to_update)
    outcome.unchanged = len(result.entities) - len(to_create) - len(to_update)
    outcome.orphaned = len(vanished)
    changed = {row.ref for row in to_create} | {row.ref for row in to_update}
    changed |= {ref for ref, (pk, _fp, orphaned, _h) in stored.items()
                if ref not in present and not orphaned}
    small = len(changed) * 5 < max(len(stored), 1)
    _commit_relations(location, result, present, outcome, changed if small else None)
    # Relations of other locations pointing at entities that exist from now on.
    for chunk in _chunks([row.ref for row in to_create]):
        Relation.objects.filter(target__in=chunk, target_exists=False).update(target_exists=True)
    content = hashlib.sha256("\n".join(sorted(fingerprints)).encode()).hexdigest()
    Location.objects.filter(pk=location.pk).update(
        status=ImportStatus.OK, errors=[], warnings=outcome.warnings, files=outcome.files,
        entity_count=len(result.entities), commit=outcome.commit, content_sha256=content,
        last_attempt_at=now, last_imported_at=now, last_run=run, updated_at=now,
    )
    outcome.ok = True


def _stored_relations(location: Location, changed: set[str] | None) -> dict:
    rows = location.relations.values_list("id", "source", "type", "target", "target_exists")
    if changed is None:
        return {(s, t, tg): (pk, exists) for pk, s, t, tg, exists in rows}
    out = {}
    for chunk in _chunks(sorted(changed), 500):
        for pk, s, t, tg, exists in rows.filter(Q(source__in=chunk) | Q(target__in=chunk)):
            out[(s, t, tg)] = (pk, exists)
    return out


def _commit_relations(location: Location, result: CatalogResult, present: set[str],
                      outcome: Outcome, changed: set[str] | None = None) -> None:
    """Store the wanted relations. With ``changed`` (the refs created, updated or orphaned
    by this import), only rows that touch one of them are compared: every relation is
    emitted by an entity and names it as source or target, so no other row can differ."""
    wanted = set(result.relations)
    if changed is not None:
        wanted = {r for r in wanted if r.source in changed or r.target in changed}
    outside = sorted({r.target for r in wanted} - present)
    known = set(present)
    for chunk in _chunks(outside):
        known.update(Entity.objects.filter(ref__in=chunk).values_list("ref", flat=True))
    stored = _stored_relations(location, changed) if changed != set() else {}
    stale = [pk for key, (pk, _e) in stored.items() if key not in wanted]
    for chunk in _chunks(stale):
        Relation.objects.filter(pk__in=chunk).delete()
    new = [(location.pk, s, t, tg, tg in known)
           for (s, t, tg) in sorted(wanted) if (s, t, tg) not in stored]
    _insert_relations(new)
    flip = defaultdict(list)
    for key, (pk, exists) in stored.items():
        if key in wanted and exists != (key[2] in known):
            flip[key[2] in known].append(pk)
    for value, pks in flip.items():
        for chunk in _chunks(pks):
            Relation.objects.filter(pk__in=chunk).update(target_exists=value)
    outcome.relations_added, outcome.relations_removed = len(new), len(stale)


def _insert_entities(rows: list[Entity]) -> None:
    """Plain executemany with each field's own conversion to database values: bulk_create
    compiles an INSERT per batch and costs seconds at 10,000 entities."""
    if not rows:
        return
    fields = [f for f in Entity._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Only our own table and column names are interpolated; values are parameters.
    sql = f"INSERT INTO {quote(Entity._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    params = [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
              for row in rows]
    with connection.cursor() as cursor:
        for chunk in _chunks(params, BATCH):
            cursor.executemany(sql, chunk)


def _insert_relations(rows: list[tuple]) -> None:
    """Plain executemany: building ~100k model instances for bulk_create costs several
    seconds at 10,000 entities, the INSERT itself well under one."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("location_id", "source", "type", "target",
                                            "target_exists"))
    # Only our own table and column names are interpolated; values are parameters.
    table = quote(Relation._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, 5000):
            cursor.executemany(sql, chunk)
