"""Entity.uid (issue 17): Backstage's metadata.uid, for the Backstage-compatible API.
Added nullable, filled with a fresh UUID per existing row, then made unique."""

import uuid

from django.db import migrations, models


def fill(apps, schema_editor):
    Entity = apps.get_model("catalog", "Entity")
    rows = list(Entity.objects.filter(uid__isnull=True).only("pk"))
    for row in rows:
        row.uid = uuid.uuid4()
    Entity.objects.bulk_update(rows, ["uid"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_location_github_repo")]

    operations = [
        migrations.AddField("entity", "uid", models.UUIDField(null=True, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField("entity", "uid", models.UUIDField(
            default=uuid.uuid4, unique=True, editable=False)),
    ]
