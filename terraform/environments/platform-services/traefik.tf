# Traefik is k3s's own (a HelmChart in kube-system): configure it, do not replace it.
# A HelmChartConfig is merged by k3s's helm controller into its Traefik release: every
# plain-HTTP request is redirected to HTTPS and the dashboard is not exposed.
resource "kubernetes_manifest" "traefik_config" {
  manifest = {
    apiVersion = "helm.cattle.io/v1"
    kind       = "HelmChartConfig"
    metadata = {
      name      = "traefik"
      namespace = "kube-system"
    }
    spec = {
      valuesContent = yamlencode({
        ports = {
          web = {
            redirections = {
              entryPoint = { to = "websecure", scheme = "https", permanent = true }
            }
          }
        }
        ingressRoute = { dashboard = { enabled = false } }
        api          = { dashboard = false }
        resources = {
          requests = { cpu = "50m", memory = "64Mi" }
          limits   = { cpu = "500m", memory = "256Mi" }
        }
      })
    }
  }
}
