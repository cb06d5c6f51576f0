# A single Hetzner VPS running k3s. The public IPs are primary IPs created first,
# so the address is known when cloud-init is rendered (API certificate SANs) and
# it survives a server rebuild (DNS stays valid).
#
# No secret goes into user_data (it is readable through the metadata service):
# k3s generates its own CA and tokens; the portal fetches the kubeconfig over SSH
# after bootstrap and hands credentials to the per-environment stacks.

locals {
  labels = merge({ "managed-by" = "eaas-portal" }, var.labels)
}

resource "hcloud_ssh_key" "this" {
  name       = var.name
  public_key = var.ssh_public_key
  labels     = local.labels
}

resource "hcloud_firewall" "this" {
  name   = var.name
  labels = local.labels

  rule {
    description = "SSH"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = var.ssh_allowed_cidrs
  }

  rule {
    description = "Kubernetes API"
    direction   = "in"
    protocol    = "tcp"
    port        = "6443"
    source_ips  = var.api_allowed_cidrs
  }

  rule {
    description = "HTTP"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "HTTPS"
    direction   = "in"
    protocol    = "tcp"
    port        = "443"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "ICMP"
    direction   = "in"
    protocol    = "icmp"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }
}

resource "hcloud_primary_ip" "ipv4" {
  name              = "${var.name}-ipv4"
  type              = "ipv4"
  location          = var.location
  assignee_type     = "server"
  auto_delete       = false
  delete_protection = var.delete_protection
  labels            = local.labels
}

resource "hcloud_primary_ip" "ipv6" {
  name              = "${var.name}-ipv6"
  type              = "ipv6"
  location          = var.location
  assignee_type     = "server"
  auto_delete       = false
  delete_protection = var.delete_protection
  labels            = local.labels
}

resource "hcloud_server" "this" {
  name               = var.name
  server_type        = var.server_type
  image              = var.image
  location           = var.location
  ssh_keys           = [hcloud_ssh_key.this.id]
  firewall_ids       = [hcloud_firewall.this.id]
  labels             = local.labels
  delete_protection  = var.delete_protection
  rebuild_protection = var.delete_protection

  public_net {
    ipv4_enabled = true
    ipv4         = hcloud_primary_ip.ipv4.id
    ipv6_enabled = true
    ipv6         = hcloud_primary_ip.ipv6.id
  }

  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    hostname    = var.name
    k3s_version = var.k3s_version
    tls_sans    = distinct(concat([hcloud_primary_ip.ipv4.ip_address], var.tls_sans))
  })

  lifecycle {
    # Changing cloud-init of a running server would replace it: do that on purpose only.
    ignore_changes = [user_data, image, ssh_keys]
  }
}
