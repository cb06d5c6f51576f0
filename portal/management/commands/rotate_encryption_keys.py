from django.core.management.base import BaseCommand
from django.db import connection, transaction

from portal.audit.models import record
from portal.lib import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key of PORTAL_ENCRYPTION_KEYS. "
        "Put the new key first, run this, then remove the old key."
    )

    def handle(self, *args, **options):
        total = 0
        qn = connection.ops.quote_name
        with transaction.atomic(), connection.cursor() as cursor:
            for model, field in crypto.encrypted_fields():
                table, column, pk = (qn(model._meta.db_table), qn(field.column),
                                     qn(model._meta.pk.column))
                # Raw SQL on purpose: the field would decrypt on read and re-encrypt on write,
                # but here only the ciphertext is rotated.
                cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
                rows = cursor.fetchall()
                for row_pk, stored in rows:
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                                   [crypto.rotate_str(stored), row_pk])
                total += len(rows)
                self.stdout.write(f"{model._meta.label}.{field.name}: {len(rows)} value(s)")
        record("encryption.rotate", actor="shell", target="encryption-keys", values=total)
        self.stdout.write(f"{total} value(s) re-encrypted with the first key")
