output "server_id" {
  description = "Hetzner server id."
  value       = hcloud_server.this.id
}

output "ipv4" {
  description = "Public IPv4 address."
  value       = hcloud_primary_ip.ipv4.ip_address
}

output "ipv6" {
  description = "Public IPv6 address (the first address of the server's /64)."
  value       = hcloud_server.this.ipv6_address
}

output "cluster_endpoint" {
  description = "Kubernetes API URL."
  value       = "https://${hcloud_primary_ip.ipv4.ip_address}:6443"
}

output "k3s_version" {
  description = "k3s release installed at bootstrap."
  value       = var.k3s_version
}
