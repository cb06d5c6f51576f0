"""Finding a target's workload when the owner named none: the catalog entity's Kubernetes
annotations (``backstage.io/kubernetes-id`` or ``-label-selector``) select the Deployment."""

from __future__ import annotations

from django.utils import timezone

from catalog.descriptor.annotations import K8S_ID, K8S_SELECTOR
from catalog.models import Entity
from portal.lib.kube import Cluster

from .components import entity_name
from .models import Target

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def catalog_annotations(component_ref: str) -> dict:
    """The catalog entity's annotations ({} when the catalog does not know it)."""
    found = Entity.objects.filter(ref=component_ref.lower()).values_list(
        "annotations", flat=True).first()
    return found if isinstance(found, dict) else {}


def label_selector(component_ref: str, annotations: dict) -> str:
    """The label selector of the component's Deployments: its label-selector annotation,
    else ``backstage.io/kubernetes-id=<id>`` (the id annotation, default: its name)."""
    if annotations.get(K8S_SELECTOR):
        return str(annotations[K8S_SELECTOR])
    return f"{K8S_ID}={annotations.get(K8S_ID) or entity_name(component_ref)}"


def resolve(target: Target, cluster: Cluster) -> Target:
    """Find the target's object from the catalog annotations when the owner named none: the
    single Deployment labelled backstage.io/kubernetes-id=<id> (or matching the label
    selector annotation). A match owned by a KuberoApp becomes a KuberoApp target, so the
    portal changes the app and not the operator's Deployment. Saves the outcome either way."""
    if target.explicit or target.resolved:
        return target
    namespace = target.effective_namespace()
    selector = label_selector(target.component, catalog_annotations(target.component))
    found = cluster.find_deployments(namespace, selector)
    names = sorted(d["metadata"]["name"] for d in found)
    target.candidates = names
    target.unresolved_reason = ""
    if len(found) != 1:
        what = "no Deployment" if not found else f"{len(found)} Deployments ({', '.join(names)})"
        target.unresolved_reason = (f"{what} in namespace {namespace} match {selector!r}: "
                                    "name the deployment and container, or a KuberoApp")
    else:
        dep = found[0]
        owner = next((o for o in dep["metadata"].get("ownerReferences") or []
                      if o.get("controller") and o.get("kind") == "KuberoApp"), None)
        containers = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
        if owner:
            target.kuberoapp = owner["name"]
        else:
            wanted = entity_name(target.component)
            default = str(((dep["spec"]["template"].get("metadata") or {}).get("annotations")
                           or {}).get(DEFAULT_CONTAINER) or "")
            container: str = containers[0] if len(containers) == 1 else (
                wanted if wanted in containers else default if default in containers else "")
            target.deployment = dep["metadata"]["name"]
            target.container = container
            if not container:
                target.unresolved_reason = (
                    f"deployment {namespace}/{dep['metadata']['name']} has several containers "
                    f"({', '.join(containers)}), none is named {wanted} and no "
                    f"{DEFAULT_CONTAINER} annotation picks one: name the container")
        if not target.unresolved_reason:
            target.resolved_at = timezone.now()
    target.save()
    return target
