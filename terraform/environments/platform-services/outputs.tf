# What the portal's Platform page reads (envs/platform): for each service its namespace,
# in-cluster address and public URL (null where there is none).
output "services" {
  description = "Per platform service: namespace, in-cluster address and public URL (null: none)."
  value = {
    kubero = {
      namespace = helm_release.kubero.namespace
      address   = "http://kubero.${helm_release.kubero.namespace}.svc.cluster.local:80"
      url       = "https://${local.kubero_host}"
    }
    postgresql = {
      namespace = kubernetes_manifest.postgresql.manifest.metadata.namespace
      # CloudNativePG's read-write service is <cluster>-rw.
      address = "postgresql-rw.${kubernetes_manifest.postgresql.manifest.metadata.namespace}.svc.cluster.local:5432"
      url     = null
    }
    redis = {
      namespace = kubernetes_stateful_set_v1.redis.metadata[0].namespace
      address   = "redis.${kubernetes_stateful_set_v1.redis.metadata[0].namespace}.svc.cluster.local:6379"
      url       = null
    }
    signoz = {
      namespace = helm_release.signoz.namespace
      address   = "http://signoz.${helm_release.signoz.namespace}.svc.cluster.local:8080"
      url       = "https://${local.signoz_host}"
    }
    posthog = {
      namespace = null
      address   = null
      url       = var.posthog_url != "" ? var.posthog_url : null
    }
  }
}

output "namespaces" {
  description = "Namespaces this stack created, by purpose."
  value       = { for key, ns in kubernetes_namespace_v1.this : key => ns.metadata[0].name }
}

output "kubero_ui_url" {
  description = "Public URL of the Kubero UI."
  value       = "https://${local.kubero_host}"
}

output "signoz_url" {
  description = "Public URL of the SigNoz UI."
  value       = "https://${local.signoz_host}"
}

output "posthog_url" {
  description = "URL of the PostHog in use (not installed by this stack); null: none."
  value       = var.posthog_url != "" ? var.posthog_url : null
}

output "cluster_endpoint" {
  description = "Kubernetes API URL (from the platform state)."
  value       = local.platform.cluster_endpoint
}
