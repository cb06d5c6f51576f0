"""The ``catalog_import`` run kind (import and refresh of one location) and the schedule
that refreshes every location."""

from __future__ import annotations

from portal.runs.engine import RunContext, RunFailed
from portal.runs.kinds import RunKind, register

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
    if not outcome.ok:
        raise RunFailed(f"{len(outcome.errors)} error(s); nothing of location #{location.pk} "
                        "was changed (the previous version stays)")


CATALOG_IMPORT = register(RunKind(
    name=IMPORT_KIND,
    label="Catalog import",
    execute=execute,
    mutating=True,
    cancel_note="Canceled: an import commits in one transaction at its end, so the "
                "location's entities are either fully updated or untouched.",
    endpoint="/api/catalog/locations/<id>/refresh/",
    timeout=None,
))
