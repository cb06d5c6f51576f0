# PostgreSQL through the CloudNativePG operator: one instance (one node), one volume.
resource "helm_release" "cnpg" {
  name       = "cnpg"
  namespace  = kubernetes_namespace_v1.this["cnpg"].metadata[0].name
  repository = "https://cloudnative-pg.github.io/charts"
  chart      = "cloudnative-pg"
  version    = "0.26.0"
  timeout    = 600

  values = [yamlencode({
    replicaCount = 1
    resources    = local.resources.cnpg_operator
  })]
}

resource "kubernetes_secret_v1" "postgresql_superuser" {
  metadata {
    name      = "postgresql-superuser"
    namespace = kubernetes_namespace_v1.this["postgresql"].metadata[0].name
  }
  type = "kubernetes.io/basic-auth"
  data = {
    username = "postgres"
    password = var.postgresql_superuser_password
  }
}

resource "kubernetes_secret_v1" "postgresql_app" {
  metadata {
    name      = "postgresql-app"
    namespace = kubernetes_namespace_v1.this["postgresql"].metadata[0].name
  }
  type = "kubernetes.io/basic-auth"
  data = {
    username = var.postgresql_database
    password = var.postgresql_app_password
  }
}

# The Cluster kind exists once the operator's CRDs do: on a fresh cluster apply
# helm_release.cnpg first (-target), then the rest (see terraform/README.md).
resource "kubernetes_manifest" "postgresql" {
  depends_on = [helm_release.cnpg]

  manifest = {
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "Cluster"
    metadata = {
      name      = "postgresql"
      namespace = kubernetes_namespace_v1.this["postgresql"].metadata[0].name
      labels    = local.managed_labels
    }
    spec = {
      instances             = 1
      imageName             = "ghcr.io/cloudnative-pg/postgresql:17.5"
      enableSuperuserAccess = true
      superuserSecret       = { name = kubernetes_secret_v1.postgresql_superuser.metadata[0].name }
      bootstrap = {
        initdb = {
          database = var.postgresql_database
          owner    = var.postgresql_database
          secret   = { name = kubernetes_secret_v1.postgresql_app.metadata[0].name }
        }
      }
      storage   = { size = var.postgresql_storage_size, storageClass = var.storage_class }
      resources = local.resources.postgresql
      postgresql = {
        parameters = { shared_buffers = "128MB", max_connections = "100" }
      }
    }
  }
}
