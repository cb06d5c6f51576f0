# SigNoz (UI + query service, OTel collector, ClickHouse, ZooKeeper). SigNoz asks for
# 8 GB / 4 cores for itself; these limits squeeze it onto the shared VPS for a small
# volume of telemetry: raise them (or the VPS) before sending much.
resource "helm_release" "signoz" {
  name       = "signoz"
  namespace  = kubernetes_namespace_v1.this["signoz"].metadata[0].name
  repository = "https://charts.signoz.io"
  chart      = "signoz"
  version    = "0.131.0"
  timeout    = 1800

  values = [yamlencode({
    global = { storageClass = var.storage_class }
    signoz = {
      replicaCount = 1
      resources    = local.resources.signoz
    }
    otelCollector = {
      replicaCount = 1
      resources    = local.resources.signoz_otel
    }
    clickhouse = {
      resources   = local.resources.clickhouse
      persistence = { size = var.signoz_storage_size, storageClass = var.storage_class }
      zookeeper   = { resources = local.resources.zookeeper }
    }
  })]

  set_sensitive {
    name  = "clickhouse.password"
    value = var.signoz_clickhouse_password
  }
}

resource "kubernetes_ingress_v1" "signoz" {
  metadata {
    name      = "signoz"
    namespace = kubernetes_namespace_v1.this["signoz"].metadata[0].name
    labels    = local.managed_labels
  }
  spec {
    ingress_class_name = "traefik"
    rule {
      host = local.signoz_host
      http {
        path {
          path      = "/"
          path_type = "Prefix"
          backend {
            service {
              name = "signoz"
              port {
                number = 8080
              }
            }
          }
        }
      }
    }
  }

  depends_on = [helm_release.signoz]
}
