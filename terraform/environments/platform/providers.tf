provider "hcloud" {
  token = var.hcloud_token
}

# S3-compatible object storage (R2 by default): region "auto" and a custom endpoint.
provider "aws" {
  region                      = var.s3_region
  access_key                  = var.s3_access_key_id
  secret_key                  = var.s3_secret_access_key
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true

  endpoints {
    s3 = var.s3_endpoint
  }
}
