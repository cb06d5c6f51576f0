variable "environment" {
  type        = string
  description = "Environment name (dev, test, prod); becomes the namespace."
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.environment))
    error_message = "environment must be a DNS label: lowercase letters, digits and dashes."
  }
}

variable "zone" {
  type        = string
  description = "DNS zone the environment records live in."
  default     = "example.test"
}

variable "vps_ipv4" {
  type        = string
  description = "Pretend public IPv4 address of the VPS."
  default     = "192.0.2.10"
}

variable "server_type" {
  type        = string
  description = "Pretend Hetzner server type."
  default     = "cx22"
}

variable "k3s_version" {
  type        = string
  description = "k3s release the bootstrap would install."
  default     = "v1.33.4+k3s1"
}

variable "bucket_names" {
  type        = list(string)
  description = "Pretend S3-compatible buckets (backups, state)."
  default     = ["eaas-local-backups", "eaas-local-state"]
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on the namespace."
  default     = {}
}

variable "api_token" {
  type        = string
  description = "Pretend provider API token: required and secret, to exercise secret variables."
  sensitive   = true

  validation {
    condition     = length(var.api_token) >= 8
    error_message = "api_token must be at least 8 characters."
  }
}

variable "sleep_seconds" {
  type        = number
  description = "When > 0, a local-exec runs `exec sleep N` during apply (tests cancel of a long run)."
  default     = 0

  validation {
    condition     = var.sleep_seconds >= 0 && var.sleep_seconds <= 3600
    error_message = "sleep_seconds must be between 0 and 3600."
  }
}
