"""The ``catalog_import`` run kind (import and refresh of one location), its links on the
run page, and the receiver that takes away a location whose first import did not import
it (``services.discard_unimported``, in the transaction that ends the run)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from portal.runs.engine import RunContext, RunFailed
from portal.runs.kinds import RunKind, register
from portal.runs.models import Run
from portal.runs.signals import run_status_changed

from . import services
from .importer import format_issue, import_location
from .models import IMPORT_KIND, Location

MAX_LOGGED_ISSUES = 500


def execute(ctx: RunContext) -> None:
    location = Location.objects.filter(pk=ctx.run.params.get("location")).first()
    if location is None:
        raise RunFailed(f"location #{ctx.run.params.get('location')} no longer exists")
    verb = "refreshing" if ctx.run.params.get("refresh") else "importing"
    ctx.log(f"{verb} location #{location.pk}: {location}")
    outcome = import_location(location, log=ctx.log, secret=ctx.secret, run=ctx.run)
    for issue in outcome.errors[:MAX_LOGGED_ISSUES]:
        ctx.log(f"error: {format_issue(issue)}")
    for issue in outcome.warnings[:MAX_LOGGED_ISSUES]:
        ctx.log(f"warning: {format_issue(issue)}")
    hidden = max(0, len(outcome.errors) + len(outcome.warnings) - 2 * MAX_LOGGED_ISSUES)
    if hidden:
        ctx.log(f"... and {hidden} more: see the location page for the full list")
    ctx.result = {"location": location.pk, **outcome.summary()}
    if not outcome.ok and ctx.run.params.get("first"):
        what = format_issue(outcome.errors[0]) if outcome.errors else "nothing was read"
        raise RunFailed(f"the first import of {location} failed ({len(outcome.errors)} "
                        f"error(s), the first: {what}); nothing was imported and the "
                        "location is not kept: fix the source and add it again")
    if not outcome.ok:
        raise RunFailed(f"{len(outcome.errors)} error(s); nothing of location #{location.pk} "
                        "was changed (the previous version stays)")


def run_links(run: Run) -> list[tuple[str, str]]:
    """The location the run imported; a first import that failed offers the add form
    again with its source filled in (the location itself is gone)."""
    params = run.params or {}
    pk = params.get("location")
    location = Location.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    links: list[tuple[str, str]] = []
    if location is not None:
        links.append((f"Location #{location.pk}", location.get_absolute_url()))
    elif params.get("first") and run.status in ("failed", "canceled"):
        source = {k: str(v) for k, v in (params.get("source") or {}).items()
                  if k in ("target", "ref", "path") and v}
        links.append(("Retry: add the location again",
                      f"{reverse('catalog-locations')}?{urlencode(source)}#add"))
    return links


def _ended(sender: Any, run: Run, previous: str, **kwargs: Any) -> None:
    services.discard_unimported(run)


CATALOG_IMPORT = register(RunKind(
    name=IMPORT_KIND,
    label="Catalog import",
    execute=execute,
    mutating=True,
    cancel_note="Canceled: an import commits in one transaction at its end, so the "
                "location's entities are either fully updated or untouched.",
    endpoint="/api/catalog/locations/<id>/refresh/",
    timeout=None,
    links=run_links,
))
run_status_changed.connect(_ended, sender=Run, dispatch_uid="catalog-first-import")
