# Redis as a plain StatefulSet of the official image (no chart: one pinned image and
# nothing else to trust), password required, append-only file on its own volume.
resource "kubernetes_secret_v1" "redis" {
  metadata {
    name      = "redis"
    namespace = kubernetes_namespace_v1.this["redis"].metadata[0].name
  }
  data = {
    password = var.redis_password
  }
}

resource "kubernetes_service_v1" "redis" {
  metadata {
    name      = "redis"
    namespace = kubernetes_namespace_v1.this["redis"].metadata[0].name
    labels    = merge(local.managed_labels, { "app.kubernetes.io/name" = "redis" })
  }
  spec {
    selector = { "app.kubernetes.io/name" = "redis" }
    port {
      name        = "redis"
      port        = 6379
      target_port = 6379
    }
  }
}

resource "kubernetes_stateful_set_v1" "redis" {
  metadata {
    name      = "redis"
    namespace = kubernetes_namespace_v1.this["redis"].metadata[0].name
    labels    = merge(local.managed_labels, { "app.kubernetes.io/name" = "redis" })
  }

  spec {
    service_name = kubernetes_service_v1.redis.metadata[0].name
    replicas     = 1

    selector {
      match_labels = { "app.kubernetes.io/name" = "redis" }
    }

    template {
      metadata {
        labels = { "app.kubernetes.io/name" = "redis" }
      }
      spec {
        security_context {
          run_as_user     = 999
          run_as_group    = 999
          fs_group        = 999
          run_as_non_root = true
        }
        container {
          name    = "redis"
          image   = "redis:7.4.5-alpine"
          command = ["sh", "-c", "exec redis-server --appendonly yes --dir /data --requirepass \"$REDIS_PASSWORD\" --maxmemory 192mb --maxmemory-policy allkeys-lru"]

          env {
            name = "REDIS_PASSWORD"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.redis.metadata[0].name
                key  = "password"
              }
            }
          }

          port {
            name           = "redis"
            container_port = 6379
          }

          resources {
            requests = local.resources.redis.requests
            limits   = local.resources.redis.limits
          }

          readiness_probe {
            exec {
              command = ["sh", "-c", "redis-cli -a \"$REDIS_PASSWORD\" --no-auth-warning ping | grep -q PONG"]
            }
            period_seconds = 10
          }

          volume_mount {
            name       = "data"
            mount_path = "/data"
          }
        }
      }
    }

    volume_claim_template {
      metadata {
        name = "data"
      }
      spec {
        access_modes       = ["ReadWriteOnce"]
        storage_class_name = var.storage_class
        resources {
          requests = { storage = var.redis_storage_size }
        }
      }
    }
  }
}
