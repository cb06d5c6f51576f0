locals {
  base  = var.apex ? var.zone_name : "${var.environment}.${var.zone_name}"
  names = [local.base, "*.${local.base}"]
  addresses = merge(
    { A = var.ipv4 },
    var.ipv6 == null ? {} : { AAAA = var.ipv6 },
  )
  records = merge([
    for name in local.names : {
      for type, address in local.addresses : "${type} ${name}" => {
        name    = name
        type    = type
        content = address
      }
    }
  ]...)
}

resource "cloudflare_dns_record" "this" {
  for_each = local.records

  zone_id = var.zone_id
  name    = each.value.name
  type    = each.value.type
  content = each.value.content
  ttl     = var.ttl
  proxied = var.proxied
  comment = "eaas-portal ${var.environment}"
}
