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
