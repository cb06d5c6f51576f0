# Sign-in failures are counted per client group (an IPv4 address, an IPv6 /64, or "unknown"
# for a request without an address) instead of per exact address.

from django.db import migrations, models


def fill_groups(apps, schema_editor):
    from portal.auth.models import client_group

    SigninFailure = apps.get_model("portal_auth", "SigninFailure")
    for failure in SigninFailure.objects.all().only("pk", "client_ip"):
        SigninFailure.objects.filter(pk=failure.pk).update(
            client_group=client_group(failure.client_ip))


class Migration(migrations.Migration):

    dependencies = [
        ("portal_auth", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="signinfailure",
            name="client_group",
            field=models.CharField(db_index=True, default="unknown", max_length=50),
        ),
        migrations.AlterField(
            model_name="signinfailure",
            name="client_ip",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.RunPython(fill_groups, migrations.RunPython.noop),
    ]
