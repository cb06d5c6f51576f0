# State in an S3-compatible bucket (Cloudflare R2 or AWS S3), next to the platform's.
# bucket, key and endpoints come from a partial configuration:
#   terraform init -backend-config=backend.hcl   (see backend.hcl.example)
# Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment.
terraform {
  backend "s3" {
    region                      = "auto"
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_region_validation      = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_s3_checksum            = true
  }
}
