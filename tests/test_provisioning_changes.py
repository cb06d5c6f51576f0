"""The plan review shows values Terraform computes at apply time as such, never as null."""

from envs.provisioning.changes import UNKNOWN, output_changes


def test_partly_computed_outputs_say_known_after_apply():
    doc = {"output_changes": {
        "buckets": {"actions": ["create"], "before": None, "after": [None, "fixed"],
                    "after_unknown": [True, False]},
        "records": {"actions": ["create"], "before": None, "after": {},
                    "after_unknown": {"a": True}},
        "name": {"actions": ["update"], "before": "a", "after": "b", "after_unknown": False},
        "same": {"actions": ["no-op"], "before": 1, "after": 1, "after_unknown": False},
    }}
    shown = {c["name"]: c["after"] for c in output_changes(doc)}
    assert shown == {"buckets": [UNKNOWN, "fixed"], "records": UNKNOWN, "name": "b"}
