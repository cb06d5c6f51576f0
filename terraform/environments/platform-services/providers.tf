# The cluster comes from the platform stack's state, as in dev/test/prod.
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

provider "helm" {
  kubernetes {
    host                   = local.platform.cluster_endpoint
    cluster_ca_certificate = var.kube_cluster_ca_certificate
    token                  = var.kube_token
  }
}
