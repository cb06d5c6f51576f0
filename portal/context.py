from django.conf import settings


def portal(request):
    return {
        "PUBLIC_URL": settings.PUBLIC_URL,
        "GITHUB_CONFIGURED": bool(settings.SOCIAL_AUTH_GITHUB_KEY),
        "EMBEDDED": settings.EMBEDDED,
    }
