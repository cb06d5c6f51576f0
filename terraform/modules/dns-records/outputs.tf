output "fqdns" {
  description = "Names that resolve to the environment."
  value       = local.names
}

output "records" {
  description = "Records created: \"<type> <name>\" => content."
  value       = { for k, r in cloudflare_dns_record.this : k => r.content }
}
