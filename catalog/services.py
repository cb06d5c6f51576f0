"""What the owner can do with the catalog: add, change and remove locations, import or
refresh one (a run), delete orphans, validate YAML without storing it. Pages
(``views.py``), the API (``api.py``), the hourly schedule (``jobs.py``) and, later,
webhooks call these and nothing else; each writes its audit event, and anything that
changes a location's entities is a run holding the lock ``location:<id>``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from portal.audit.models import record
from portal.errors import Conflict
from portal.runs.choices import Status as RunStatus
from portal.runs.models import Lock, LockHeld, Run

from .descriptor import validate_text
from .importer import import_location
from .models import IMPORT_KIND, Entity, Location


class LocationExists(Conflict):
    """The source is already a location: 409 ``exists`` naming it."""

    code = "exists"

    def __init__(self, location: Location):
        self.location = location
        super().__init__(detail=f"this source is already location #{location.pk} ({location})",
                         location=location.pk)


SOURCE_FIELDS = ("kind", "target", "ref", "path")


def add_location(*, kind: str, target: str, ref: str = "", path: str = "",
                 token: str | None = None, github_repo: str = "",
                 request=None) -> tuple[Location, Run]:
    """Create a location and queue its first import. Raises LocationExists. A first
    import that fails (or is canceled) takes the location away again when its run ends
    (``discard_unimported``): a source that never imported leaves nothing behind."""
    existing = Location.objects.filter(kind=kind, target=target, ref=ref, path=path).first()
    if existing is not None:
        raise LocationExists(existing)
    with transaction.atomic():
        location = Location.objects.create(kind=kind, target=target, ref=ref, path=path,
                                           token=token or None, github_repo=github_repo)
        record("catalog.location.add", target=location.run_target, request=request,
               source=str(location), has_token=bool(token))
        run = start_import(location, request=request, first=True)
    assert run is not None  # not scheduled: a held lock raises instead
    return location, run


def preview(location: Location, token: str | None = None) -> dict[str, Any]:
    """What importing ``location`` (saved, or a new unsaved one) would create, update and
    orphan, with every error and warning at its file and line; nothing is stored. Reads
    the source in this process (Backstage's "Register existing component" analyses the
    same way before it registers)."""
    if token is not None:
        location.token = token or None
    outcome = import_location(location, dry_run=True)
    return {
        "ok": outcome.ok, "dry_run": True, "entities": outcome.entities,
        "created": outcome.preview.get("created", []),
        "updated": outcome.preview.get("updated", []),
        "orphaned": outcome.preview.get("orphaned", []),
        "unchanged": outcome.unchanged, "relations": outcome.relations_added,
        "commit": outcome.commit, "files": outcome.files,
        "errors": [_issue(i) for i in outcome.errors],
        "warnings": [_issue(i) for i in outcome.warnings],
    }


def preview_new_location(*, kind: str, target: str, ref: str = "", path: str = "",
                         token: str | None = None, github_repo: str = "") -> dict[str, Any]:
    """``preview`` of a source that is not a location yet. Raises LocationExists."""
    existing = Location.objects.filter(kind=kind, target=target, ref=ref, path=path).first()
    if existing is not None:
        raise LocationExists(existing)
    return preview(Location(kind=kind, target=target, ref=ref, path=path,
                            github_repo=github_repo), token=token)


def update_location(location: Location, changes: dict[str, Any], request=None) -> Location:
    """Apply validated changes; refuses a source another location already has."""
    wanted = {k: changes.get(k, getattr(location, k)) for k in SOURCE_FIELDS}
    taken = Location.objects.filter(**wanted).exclude(pk=location.pk).first()
    if taken is not None:
        raise LocationExists(taken)
    with transaction.atomic():
        for key, value in changes.items():
            setattr(location, key, value)
        location.save()
        record("catalog.location.update", target=location.run_target, request=request,
               source=str(location), fields=sorted(changes))
    return location


def remove_location(location: Location, request=None) -> int:
    """Delete the location and its entities (refused while an import holds its lock)."""
    holder = Lock.holder(location.lock_key)
    if holder is not None:
        raise LockHeld(location.lock_key, holder)
    target, source = location.run_target, str(location)
    count = location.delete_with_entities()
    record("catalog.location.delete", target=target, request=request, source=source,
           entities=count)
    return count


def start_import(location: Location, *, request=None, user=None, actor: str | None = None,
                 scheduled: bool = False, refresh: bool = False, first: bool = False,
                 enqueue: bool = True) -> Run | None:
    """Queue an import run of the location (see ``jobs.py``). Raises LockHeld; a scheduled
    run on a held lock returns None (skipped and audited by Run.start). ``enqueue=False``:
    the caller executes it in its own process (the CLI). ``first``: the import of a
    location just added, which goes away again if this run does not import it; its
    source is kept in the parameters for the run page's "add it again" link."""
    params: dict[str, Any] = {"location": location.pk, "refresh": refresh or scheduled}
    if first:
        params.update(first=True, source={"target": location.target, "ref": location.ref,
                                          "path": location.path})
    return Run.start(
        IMPORT_KIND, target=location.run_target, lock_key=location.lock_key,
        params=params, scheduled=scheduled, request=request, user=user, actor=actor,
        enqueue=enqueue,
    )


def discard_unimported(run: Run) -> bool:
    """When the first import run of a location ends without importing it (failed,
    canceled, or failed by the reaper), delete the location, in the transaction that ends
    the run, and audit it. A location that ever imported is never touched here: a failed
    refresh keeps the location and its entities."""
    if run.kind != IMPORT_KIND or not (run.params or {}).get("first") or run.status not in (
            RunStatus.FAILED, RunStatus.CANCELED):
        return False
    pk = (run.params or {}).get("location")
    location = Location.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    if location is None or location.last_imported_at is not None or location.entities.exists():
        return False
    source = str(location)
    location.delete()
    record("catalog.location.discard", target=run.target, run=run, source=source,
           reason=f"its first import {run.status}")
    return True


def refresh_all() -> list[int]:
    """Start a scheduled refresh run per location; a held lock skips that one (audited)."""
    started = []
    for location in Location.objects.order_by("pk"):
        run = start_import(location, scheduled=True, refresh=True)
        if run is not None:
            started.append(run.pk)
    return started


def delete_orphans(location: Location, request=None) -> int:
    """Delete the entities that vanished from this location (the owner's decision)."""
    refs = list(location.entities.filter(orphaned=True).values_list("ref", flat=True))
    count = Entity.delete_refs(refs)
    if count:
        record("catalog.orphans.delete", target=location.run_target, request=request,
               entities=count)
    return count


def delete_orphan(entity: Entity, request=None) -> None:
    """Delete one orphaned entity; one its location still defines is refused."""
    if not entity.orphaned:
        raise Conflict("not_orphaned", f"{entity.ref} is still defined by location "
                       f"#{entity.location_id}; remove it from the source instead")
    Entity.delete_refs([entity.ref])
    record("catalog.orphans.delete", target=entity.location.run_target, request=request,
           entities=1, ref=entity.ref)


def _issue(issue: Any) -> dict[str, Any]:
    get = issue.get if isinstance(issue, dict) else lambda k: getattr(issue, k)
    return {k: get(k) for k in ("file", "line", "column", "entity", "field", "message")}


def validate(text: bytes, filename: str = "catalog-info.yaml") -> dict[str, Any]:
    """Validate catalog YAML as an import would, storing nothing; targets not followed."""
    result = validate_text(text, filename=filename[:200], allow_unknown_kinds=bool(
        getattr(settings, "CATALOG_ALLOW_UNKNOWN_KINDS", False)))
    return {
        "valid": result.ok,
        "entities": [{"ref": e.ref, "kind": e.kind, "name": e.name, "line": e.line}
                     for e in result.entities],
        "relations": len(result.relations),
        "errors": [_issue(i) for i in result.errors],
        "warnings": [_issue(i) for i in result.warnings],
    }
