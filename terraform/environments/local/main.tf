locals {
  fqdn = var.environment == "prod" ? var.zone : "${var.environment}.${var.zone}"
  dns_records = {
    "${local.fqdn}"   = var.vps_ipv4
    "*.${local.fqdn}" = var.vps_ipv4
  }
  cluster_endpoint = "https://${var.vps_ipv4}:6443"
}

resource "terraform_data" "vps" {
  input = {
    ipv4        = var.vps_ipv4
    server_type = var.server_type
  }
}

resource "terraform_data" "k3s" {
  input = {
    endpoint = local.cluster_endpoint
    version  = var.k3s_version
  }
  triggers_replace = [terraform_data.vps.output.ipv4]
}

resource "terraform_data" "bucket" {
  for_each = toset(var.bucket_names)
  input    = each.key
}

resource "terraform_data" "namespace" {
  input = {
    name   = var.environment
    labels = merge({ "app.kubernetes.io/managed-by" = "eaas-portal" }, var.labels)
  }
  triggers_replace = [terraform_data.k3s.output.endpoint]
}

resource "terraform_data" "dns_record" {
  for_each = local.dns_records
  input = {
    name    = each.key
    type    = "A"
    content = each.value
  }
}

# The token is consumed the way a real provider would: never stored in an
# attribute, only handed to a process through its environment.
resource "terraform_data" "token_check" {
  triggers_replace = [terraform_data.vps.id]

  provisioner "local-exec" {
    command = "exec test -n \"$API_TOKEN\""
    environment = {
      API_TOKEN = var.api_token
    }
  }
}

resource "terraform_data" "slow" {
  count = var.sleep_seconds > 0 ? 1 : 0

  # `exec` so that an interrupt reaches sleep itself and leaves no orphan.
  provisioner "local-exec" {
    command = "exec sleep ${var.sleep_seconds}"
  }
}
