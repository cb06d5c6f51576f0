"""The page forms of the catalog (delete a location), the Recovery page (download the kit)
and the runs (start a self-check) refuse like every other page form: back on the page the
form was on, the refusal kept for that page only (its errors by field, if any, shown in
place by static/forms.js), the one line as before."""

from __future__ import annotations

import time

import pytest

from catalog.models import Location
from catalog.services import start_import
from envs.models import Environment
from envs.recovery.signals import SIGNED_IN_AT
from portal.runs.models import Run
from portal.runs.pages import SESSION_KEY


def kept(client) -> dict:
    return client.session[SESSION_KEY]


def test_deleting_a_location_under_import_is_refused_on_the_delete_page(signed_in, db):
    location = Location.objects.create(kind="git", target="https://github.com/o/r.git")
    run = start_import(location, enqueue=False)
    ask = f"/catalog/locations/{location.pk}/delete/"
    refused = signed_in.post(ask, {"_form": "0"}, HTTP_REFERER=f"http://testserver{ask}")
    assert refused.status_code == 302 and refused["Location"] == f"http://testserver{ask}"
    stored = kept(signed_in)
    assert stored["page"] == ask and stored["action"] == ask and stored["form"] == "0"
    assert stored["message"].startswith("Refused:") and f"#{run.pk}" in stored["message"]
    assert stored["fields"] == {}  # a held lock refuses the whole form
    assert Location.objects.filter(pk=location.pk).exists()
    # without a referer: the location's page, as before
    signed_in.post(ask)
    assert kept(signed_in)["page"] == location.get_absolute_url()


def test_a_stale_sign_in_is_refused_the_kit_on_the_recovery_page(signed_in, settings,
                                                                 tmp_path):
    settings.DATA_DIR = tmp_path
    settings.SELF_BACKUP_PASSPHRASE = "kit-test-passphrase-0123456789"
    session = signed_in.session
    session[SIGNED_IN_AT] = time.time() - 3600
    session.save()
    refused = signed_in.post("/settings/recovery/kit/", {"_form": "kit"})
    assert refused.status_code == 302 and refused["Location"] == "/settings/recovery/"
    stored = kept(signed_in)
    assert stored["page"] == "/settings/recovery/" and stored["form"] == "kit"
    assert stored["message"].startswith("Refused: sign in again")
    page = signed_in.get("/settings/recovery/").content.decode()
    assert "Refused: sign in again" in page and 'id="form-refusal"' in page
    assert SESSION_KEY not in signed_in.session


@pytest.mark.parametrize("referer", ["http://testserver/", None])
def test_a_self_check_of_an_unknown_environment_is_refused_next_to_its_field(signed_in, db,
                                                                             referer):
    headers = {"HTTP_REFERER": referer} if referer else {}
    refused = signed_in.post("/runs/selfcheck/", {"environment": "nowhere",
                                                  "_keep": "environment", "_form": "1"},
                             **headers)
    assert refused.status_code == 302
    assert refused["Location"] == (referer or "/runs/")
    stored = kept(signed_in)
    assert stored["page"] == ("/" if referer else "/runs/")
    assert stored["fields"] == {"environment": ["no environment named 'nowhere'"]}
    assert stored["values"] == {"environment": ["nowhere"]}
    assert not Run.objects.exists()


def test_a_self_check_of_a_locked_environment_is_refused_back_on_the_form(signed_in, db):
    Environment.objects.create(name="dev", tier="dev")
    first = signed_in.post("/runs/selfcheck/", {"environment": "dev"})
    holder = Run.objects.get()
    assert first["Location"] == f"/runs/{holder.pk}/"
    here = "http://testserver/envs/dev/"
    refused = signed_in.post("/runs/selfcheck/", {"environment": "dev"}, HTTP_REFERER=here)
    assert refused.status_code == 302 and refused["Location"] == here
    stored = kept(signed_in)
    assert stored["page"] == "/envs/dev/" and stored["fields"] == {}
    assert f"#{holder.pk}" in stored["message"]
    # no referer: the run holding the lock, as before
    signed_in.post("/runs/selfcheck/", {"environment": "dev"})
    assert kept(signed_in)["page"] == f"/runs/{holder.pk}/"
    assert Run.objects.count() == 1
