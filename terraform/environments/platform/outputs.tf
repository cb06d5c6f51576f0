output "vps_ipv4" {
  description = "Public IPv4 of the VPS (A records, ingress)."
  value       = module.vps.ipv4
}

output "vps_ipv6" {
  description = "Public IPv6 of the VPS (AAAA records)."
  value       = module.vps.ipv6
}

output "server_id" {
  description = "Hetzner id of the VPS."
  value       = module.vps.server_id
}

output "cluster_endpoint" {
  description = "Kubernetes API URL of the k3s cluster."
  value       = module.vps.cluster_endpoint
}

output "k3s_version" {
  description = "k3s release installed at bootstrap."
  value       = module.vps.k3s_version
}

output "bucket_names" {
  description = "Bucket names by purpose (backups, state)."
  value       = module.buckets.bucket_names
}

output "backups_bucket" {
  description = "Bucket for backups."
  value       = module.buckets.bucket_names["backups"]
}

output "state_bucket" {
  description = "Bucket for Terraform states."
  value       = module.buckets.bucket_names["state"]
}

output "s3_endpoint" {
  description = "S3 API endpoint of the buckets."
  value       = var.s3_endpoint
}
