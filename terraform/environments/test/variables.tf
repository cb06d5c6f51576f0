variable "environment" {
  type        = string
  description = "Environment name: dev, test or prod (the namespace and the DNS label)."

  validation {
    condition     = contains(["dev", "test", "prod"], var.environment)
    error_message = "environment must be dev, test or prod."
  }
}

variable "dns_apex" {
  type        = bool
  description = "Serve the environment at the zone apex and *.<zone> (prod) instead of <env>.<zone>."
  default     = false
}

variable "cloudflare_api_token" {
  type        = string
  description = "Cloudflare API token with DNS edit rights on the zone."
  sensitive   = true
}

variable "cloudflare_zone_id" {
  type        = string
  description = "Cloudflare zone id."
}

variable "zone_name" {
  type        = string
  description = "DNS zone, e.g. example.com."
}

variable "dns_proxied" {
  type        = bool
  description = "Proxy the records through Cloudflare."
  default     = false
}

variable "kube_cluster_ca_certificate" {
  type        = string
  description = "PEM CA certificate of the k3s API server (from the kubeconfig the portal fetched)."
}

variable "kube_token" {
  type        = string
  description = "Bearer token of the portal's service account on the cluster."
  sensitive   = true
}

variable "namespace_labels" {
  type        = map(string)
  description = "Extra labels on the namespace."
  default     = {}
}

variable "resource_quota" {
  type        = map(string)
  description = "ResourceQuota hard limits for the namespace; empty for none."
  default     = {}
}

variable "platform_state_bucket" {
  type        = string
  description = "Bucket holding the platform stack's state."
}

variable "platform_state_key" {
  type        = string
  description = "Object key (path) of the platform stack's state in that bucket."
  default     = "platform/terraform.tfstate"
}

variable "s3_endpoint" {
  type        = string
  description = "S3 API endpoint of the state bucket."
}
