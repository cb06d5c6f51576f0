from django.utils.dateparse import parse_datetime

from portal.api.errors import ApiError


def filter_events(events, params):
    for field in ("action", "outcome", "target"):
        if params.get(field):
            events = events.filter(**{field: params[field]})
    if params.get("actor"):
        events = events.filter(actor__icontains=params["actor"])
    for field, lookup in (("since", "at__gte"), ("until", "at__lte")):
        if params.get(field):
            moment = parse_datetime(params[field])
            if moment is None:
                raise ApiError("invalid", f"{field}: expected an ISO 8601 date-time",
                               fields={field: ["expected an ISO 8601 date-time"]})
            events = events.filter(**{lookup: moment})
    return events.order_by("-at", "-id")
