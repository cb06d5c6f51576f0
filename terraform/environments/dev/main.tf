# Identical in dev, test and prod: only terraform.tfvars differs.

data "terraform_remote_state" "platform" {
  backend = "s3"

  # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment.
  config = {
    bucket                      = var.platform_state_bucket
    key                         = var.platform_state_key
    region                      = "auto"
    endpoints                   = { s3 = var.s3_endpoint }
    use_path_style              = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}

locals {
  platform = data.terraform_remote_state.platform.outputs
}

provider "kubernetes" {
  host                   = local.platform.cluster_endpoint
  cluster_ca_certificate = var.kube_cluster_ca_certificate
  token                  = var.kube_token
}

provider "cloudflare" {
  api_token = var.cloudflare_api_token
}

module "namespace" {
  source = "../../modules/env-namespace"

  name           = var.environment
  labels         = var.namespace_labels
  resource_quota = var.resource_quota
}

module "dns" {
  source = "../../modules/dns-records"

  zone_id     = var.cloudflare_zone_id
  zone_name   = var.zone_name
  environment = var.environment
  apex        = var.dns_apex
  ipv4        = local.platform.vps_ipv4
  ipv6        = local.platform.vps_ipv6
  proxied     = var.dns_proxied
}
