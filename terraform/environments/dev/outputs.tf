output "namespace" {
  description = "Kubernetes namespace of the environment."
  value       = module.namespace.name
}

output "fqdns" {
  description = "DNS names of the environment."
  value       = module.dns.fqdns
}

output "dns_records" {
  description = "DNS records created."
  value       = module.dns.records
}

output "cluster_endpoint" {
  description = "Kubernetes API URL (from the platform state)."
  value       = local.platform.cluster_endpoint
}

output "vps_ipv4" {
  description = "Address the environment's names point to."
  value       = local.platform.vps_ipv4
}
