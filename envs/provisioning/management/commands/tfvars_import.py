"""Import a terraform.tfvars into an environment: variables the stack marks sensitive
become secret variables (encrypted, write-only), the rest plain ones. The file is read
once and not kept; no value is printed."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from envs.models import Environment
from envs.provisioning.services import import_variables


def literal(value, where: str):
    """python-hcl2 keeps strings quoted and leaves expressions bare: accept literals only."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                return json.loads(value)
            except ValueError:
                return value[1:-1]
        raise CommandError(f"{where}: not a literal value (tfvars cannot hold expressions)")
    if isinstance(value, list):
        return [literal(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(literal(k, where) if str(k).startswith('"') else k): literal(v, f"{where}.{k}")
                for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    return value


class Command(BaseCommand):
    help = ("Import a terraform.tfvars into an environment (sensitive variables of the stack "
            "become secret variables). The file is not kept.")

    def add_arguments(self, parser):
        parser.add_argument("env")
        parser.add_argument("file")
        parser.add_argument("--secret", action="append", default=[],
                            help="also treat this variable as secret (repeatable)")

    def handle(self, env, file, secret, **options):
        import hcl2  # the HCL parser (lark) is slow to import: only for this command

        environment = Environment.objects.filter(name=env).first()
        if environment is None:
            raise CommandError(f"no environment named {env!r} (run envs_sync?)")
        path = Path(file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            parsed = hcl2.loads(text)
        except Exception as exc:
            # The parser's message may quote the offending line (a secret): say where only.
            line = getattr(exc, "line", None) or getattr(exc, "lineno", None)
            raise CommandError(f"{file}: not valid HCL"
                               + (f" (line {line})" if line else "")) from None
        values = {str(k).strip('"'): literal(v, str(k)) for k, v in parsed.items()
                  if k not in ("__is_block__", "__comments__")}
        plain, secrets, unknown = import_variables(environment, values, secret=set(secret),
                                                   actor="tfvars_import")
        self.stdout.write(f"{env}: {len(plain)} plain variable(s): {', '.join(sorted(plain))}")
        self.stdout.write(f"{env}: {len(secrets)} secret variable(s) (encrypted): "
                          f"{', '.join(sorted(secrets))}")
        if unknown:
            self.stderr.write(f"not declared by the stack (Terraform will warn): "
                              f"{', '.join(unknown)}")
        self.stdout.write(f"{file} was not kept by the portal; delete it if it held secrets.")
