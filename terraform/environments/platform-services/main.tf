# Platform services on the one k3s node, each in its own namespace. Requests and limits
# are sized for one 4 vCPU / 8 GB VPS (cx32) that also runs dev, test and prod: the sums
# below stay under half of it, SigNoz (ClickHouse) being by far the largest.
#
# PostHog is NOT installed: its Helm chart was retired (Kubernetes deployments
# unsupported since 2023; self-hosting is the Docker Compose "hobby" deployment). Set
# posthog_url to a PostHog elsewhere and the portal shows and checks it. See README.md.

locals {
  namespaces = {
    kubero     = "kubero"
    postgresql = "postgresql"
    cnpg       = "cnpg-system"
    redis      = "redis"
    signoz     = "signoz"
  }

  kubero_host = var.kubero_hostname != "" ? var.kubero_hostname : "kubero.${var.zone_name}"
  signoz_host = var.signoz_hostname != "" ? var.signoz_hostname : "signoz.${var.zone_name}"

  # requests / limits per container.
  resources = {
    kubero_operator = { requests = { cpu = "50m", memory = "128Mi" }, limits = { cpu = "500m", memory = "256Mi" } }
    kubero_ui       = { requests = { cpu = "50m", memory = "192Mi" }, limits = { cpu = "500m", memory = "384Mi" } }
    cnpg_operator   = { requests = { cpu = "50m", memory = "128Mi" }, limits = { cpu = "500m", memory = "256Mi" } }
    postgresql      = { requests = { cpu = "100m", memory = "384Mi" }, limits = { cpu = "1", memory = "768Mi" } }
    redis           = { requests = { cpu = "50m", memory = "64Mi" }, limits = { cpu = "250m", memory = "256Mi" } }
    signoz          = { requests = { cpu = "100m", memory = "256Mi" }, limits = { cpu = "1", memory = "768Mi" } }
    signoz_otel     = { requests = { cpu = "100m", memory = "256Mi" }, limits = { cpu = "1", memory = "512Mi" } }
    clickhouse      = { requests = { cpu = "250m", memory = "1Gi" }, limits = { cpu = "1500m", memory = "2Gi" } }
    zookeeper       = { requests = { cpu = "50m", memory = "256Mi" }, limits = { cpu = "250m", memory = "512Mi" } }
  }

  managed_labels = { "app.kubernetes.io/managed-by" = "eaas-portal", "eaas.io/part-of" = "platform-services" }
}

resource "kubernetes_namespace_v1" "this" {
  for_each = local.namespaces

  metadata {
    name   = each.value
    labels = merge(local.managed_labels, { "eaas.io/platform-service" = each.key })
  }
}
