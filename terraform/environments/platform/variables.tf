variable "hcloud_token" {
  type        = string
  description = "Hetzner Cloud API token (read/write)."
  sensitive   = true
}

variable "name" {
  type        = string
  description = "Name of the VPS and prefix of its Hetzner objects."
  default     = "eaas"
}

variable "server_type" {
  type        = string
  description = "Hetzner server type."
  default     = "cx32"
}

variable "location" {
  type        = string
  description = "Hetzner location."
  default     = "fsn1"
}

variable "image" {
  type        = string
  description = "Operating system image of the VPS."
  default     = "debian-12"
}

variable "ssh_public_key" {
  type        = string
  description = "OpenSSH public key of the operator/portal (public: not a secret)."
}

variable "ssh_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to SSH into the VPS."
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API on 6443."
}

variable "k3s_version" {
  type        = string
  description = "Exact k3s release to install."
  default     = "v1.33.4+k3s1"
}

variable "api_hostnames" {
  type        = list(string)
  description = "Extra DNS names for the Kubernetes API certificate."
  default     = []
}

variable "delete_protection" {
  type        = bool
  description = "Protect the VPS and its IPs against deletion."
  default     = true
}

variable "backups_bucket" {
  type        = string
  description = "Name of the bucket for backups."
}

variable "state_bucket" {
  type        = string
  description = "Name of the bucket holding Terraform states (this one included)."
}

variable "s3_endpoint" {
  type        = string
  description = "S3 API endpoint, e.g. https://<account>.r2.cloudflarestorage.com."
}

variable "s3_region" {
  type        = string
  description = "Region of the S3-compatible store (\"auto\" for R2)."
  default     = "auto"
}

variable "s3_access_key_id" {
  type        = string
  description = "Access key id for the buckets; null to use AWS_ACCESS_KEY_ID."
  sensitive   = true
  default     = null
}

variable "s3_secret_access_key" {
  type        = string
  description = "Secret access key for the buckets; null to use AWS_SECRET_ACCESS_KEY."
  sensitive   = true
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the Hetzner objects."
  default     = {}
}
