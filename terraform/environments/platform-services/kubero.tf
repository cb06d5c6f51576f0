# Kubero operator + UI in one chart (CloudPirates' OCI chart; Kubero's own chart is not
# published). Session key and webhook secret come from sensitive variables.
resource "helm_release" "kubero" {
  name       = "kubero"
  namespace  = kubernetes_namespace_v1.this["kubero"].metadata[0].name
  repository = "oci://registry-1.docker.io/cloudpirates"
  chart      = "kubero"
  version    = "0.1.0"
  timeout    = 600

  values = [yamlencode({
    operator = {
      replicaCount = 1
      image        = { tag = "v0.1.3", imagePullPolicy = "IfNotPresent" }
      resources    = local.resources.kubero_operator
    }
    ui = {
      replicaCount = 1
      image        = { tag = "v3.1.1", imagePullPolicy = "IfNotPresent" }
      resources    = local.resources.kubero_ui
      env = {
        KUBERO_NAMESPACE   = kubernetes_namespace_v1.this["kubero"].metadata[0].name
        KUBERO_WEBHOOK_URL = "https://${local.kubero_host}/api/repo/webhooks"
      }
    }
    ingress = {
      enabled   = true
      className = "traefik"
      hosts     = [{ host = local.kubero_host, paths = [{ path = "/", pathType = "Prefix" }] }]
    }
  })]

  set_sensitive {
    name  = "ui.env.KUBERO_SESSION_KEY"
    value = var.kubero_session_key
  }

  set_sensitive {
    name  = "ui.env.KUBERO_WEBHOOK_SECRET"
    value = var.kubero_webhook_secret
  }
}
