"""The platform services the portal knows, as the platform-services stack installs them.

Where each one lives comes from that stack's ``services`` output when the portal has
recorded an apply of it; these are the defaults (the stack's namespaces) until then.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceDefinition:
    key: str
    title: str
    namespace: str  # "" when it does not run in the cluster (PostHog)
    # The service's own health endpoint: in the cluster through the API server's service
    # proxy (service, port, path), or on its public URL (path only).
    health_service: str = ""
    health_port: int = 0
    health_path: str = ""
    in_cluster: bool = True


SERVICES: tuple[ServiceDefinition, ...] = (
    ServiceDefinition("kubero", "Kubero (operator and UI)", "kubero"),
    ServiceDefinition("postgresql", "PostgreSQL (CloudNativePG)", "postgresql"),
    ServiceDefinition("redis", "Redis", "redis"),
    ServiceDefinition("signoz", "SigNoz", "signoz", health_service="signoz", health_port=8080,
                      health_path="/api/v1/health"),
    # Not installed by the stack (its chart was retired): checked on its URL when given.
    ServiceDefinition("posthog", "PostHog", "", health_path="/_health", in_cluster=False),
)

BY_KEY = {s.key: s for s in SERVICES}
