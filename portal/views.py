from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import is_valid_path


def not_found(request, exception=None):
    """404 for URLs no view matched: the API's error form under /api/, a page elsewhere."""
    if request.path.startswith("/api/"):
        detail = "no such API endpoint or object"
        if not request.path_info.endswith("/") and is_valid_path(f"{request.path_info}/"):
            detail = f"no such API endpoint; did you mean {request.path}/ (trailing slash)?"
        return JsonResponse({"error": "not_found", "detail": detail, "fields": {}}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "server_error", "detail": "internal error; see the "
                             "server log", "fields": {}}, status=500)
    return render(request, "500.html", status=500)


def healthz(request):
    """Liveness and database reachability; no data."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception:
        return JsonResponse({"status": "database unavailable"}, status=503)
