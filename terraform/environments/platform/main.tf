module "vps" {
  source = "../../modules/vps-k3s"

  name              = var.name
  server_type       = var.server_type
  image             = var.image
  location          = var.location
  ssh_public_key    = var.ssh_public_key
  ssh_allowed_cidrs = var.ssh_allowed_cidrs
  api_allowed_cidrs = var.api_allowed_cidrs
  k3s_version       = var.k3s_version
  tls_sans          = var.api_hostnames
  delete_protection = var.delete_protection
  labels            = var.labels
}

module "buckets" {
  source = "../../modules/buckets"

  buckets = {
    backups = var.backups_bucket
    state   = var.state_bucket
  }
  abort_incomplete_multipart_days    = 1
  noncurrent_version_expiration_days = 30
}
