output "vps_ipv4" {
  description = "Public IPv4 address of the (pretend) VPS."
  value       = terraform_data.vps.output.ipv4
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the (pretend) k3s cluster."
  value       = terraform_data.k3s.output.endpoint
}

output "k3s_version" {
  description = "k3s release installed."
  value       = terraform_data.k3s.output.version
}

output "bucket_names" {
  description = "Names of the (pretend) buckets."
  value       = sort([for b in terraform_data.bucket : b.output])
}

output "namespace" {
  description = "Kubernetes namespace of the environment."
  value       = terraform_data.namespace.output.name
}

output "dns_records" {
  description = "DNS records (name => address) of the environment."
  value       = { for k, r in terraform_data.dns_record : k => r.output.content }
}

output "api_token_configured" {
  description = "Whether a token was supplied (never the token itself)."
  value       = nonsensitive(length(var.api_token) > 0)
}

# What a real platform stack hands to the environments on its cluster: a kubeconfig,
# sensitive. This one points at the pretend VPS (TEST-NET address, nothing answers) with a
# token that exists only in this state.
output "kubeconfig" {
  description = "Kubeconfig of the (pretend) k3s cluster; the portal can copy it into an environment's cluster connection."
  sensitive   = true
  value = yamlencode({
    apiVersion        = "v1"
    kind              = "Config"
    "current-context" = var.environment
    clusters = [{
      name    = var.environment
      cluster = { server = terraform_data.k3s.output.endpoint, "insecure-skip-tls-verify" = true }
    }]
    users    = [{ name = "portal", user = { token = "local-${terraform_data.k3s.id}" } }]
    contexts = [{ name = var.environment, context = { cluster = var.environment, user = "portal" } }]
  })
}
