"""manage.py catalog_import <source> [--ref R] [--path P] [--dry-run] [--token-env VAR]

Adds (or finds again) the Location for <source> and imports it now, as an audited
``catalog_import`` run executed in this process. Exit status 0 only when the import
succeeded; errors are printed one per line as ``file:line:col: entity field: message``.
A location added here is "trusted": it may read any path this shell user can read.
"""

from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from catalog.choices import SourceKind
from catalog.importer import format_issue, import_location
from catalog.models import Location
from catalog.services import start_import
from catalog.sources import SourceError, check_subpath, classify
from portal.runs.choices import Status
from portal.runs.engine import execute_run
from portal.runs.models import LockHeld


class Command(BaseCommand):
    help = "Import a catalog location (local path, git repository or https file) now."

    def add_arguments(self, parser):
        parser.add_argument("source", help="a path, a git repository (https URL or local "
                            "path) or an https URL of one catalog file")
        parser.add_argument("--ref", default="", help="git branch, tag or commit")
        parser.add_argument("--path", default="", help="path inside the git repository")
        parser.add_argument("--dry-run", action="store_true",
                            help="validate and report; store nothing")
        parser.add_argument("--token-env", default="", metavar="VAR",
                            help="name of an environment variable holding a GitHub token "
                                 "(never pass a token as an argument)")

    def handle(self, *args, source, ref, path, dry_run, token_env, verbosity, **options):
        try:
            kind = classify(source, ref)
            sub = check_subpath(path)
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        if sub and kind != SourceKind.GIT:
            raise CommandError("--path applies to git repositories only")
        target = source.strip()
        if kind == SourceKind.LOCAL and target.lower().startswith("file://"):
            target = target[7:]
        if not target.lower().startswith("https://"):
            target = os.path.realpath(target)
        token = os.environ.get(token_env, "") if token_env else ""
        if token_env and not token:
            raise CommandError(f"--token-env {token_env}: the variable is empty or unset")

        existing = Location.objects.filter(kind=kind, target=target, ref=ref, path=sub).first()
        if dry_run:
            location = existing or Location(kind=kind, target=target, ref=ref, path=sub,
                                            trusted=True, token=token or None)
            location.trusted = True
            outcome = import_location(location, dry_run=True, log=self._progress(verbosity))
            self._report(outcome.errors, outcome.warnings, verbosity)
            if not outcome.ok:
                raise CommandError(f"dry run: {len(outcome.errors)} error(s); nothing stored",
                                   returncode=1)
            self.stdout.write(f"dry run: {outcome.entities} valid entities in "
                              f"{len(outcome.files)} file(s); nothing stored")
            return

        location = existing or Location(kind=kind, target=target, ref=ref, path=sub)
        location.trusted = True
        if token:
            location.token = token
        location.save()
        try:
            run = start_import(location, refresh=existing is not None,
                               actor=f"cli:{getpass.getuser()}", enqueue=False)
        except LockHeld as held:
            raise CommandError(f"refused: {held}") from None
        assert run is not None  # not scheduled: a held lock raises
        execute_run(run.pk)
        run.refresh_from_db()
        location.refresh_from_db()
        if verbosity >= 2:
            for line in run.lines.order_by("seq").values_list("text", flat=True):
                self.stdout.write(line)
        result = run.result or {}
        self._report(location.errors if run.status != Status.SUCCEEDED else [],
                     location.warnings, verbosity)
        if run.status != Status.SUCCEEDED:
            raise CommandError(f"import of location #{location.pk} ({location}) failed: "
                               f"{run.error} (run #{run.pk})", returncode=1)
        self.stdout.write(
            f"imported location #{location.pk} ({location}): {result.get('entities', 0)} "
            f"entities (created {result.get('created', 0)}, updated {result.get('updated', 0)}, "
            f"unchanged {result.get('unchanged', 0)}, orphaned {result.get('orphaned', 0)}) "
            f"in {run.elapsed or 0:.2f} s, run #{run.pk}")

    def _progress(self, verbosity):
        return (lambda text: self.stdout.write(text)) if verbosity >= 2 else (lambda _t: None)

    def _report(self, errors, warnings, verbosity):
        for issue in errors:
            self.stderr.write(format_issue(issue))
        if verbosity >= 1:
            for issue in warnings:
                self.stderr.write(f"warning: {format_issue(issue)}")
