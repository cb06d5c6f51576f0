variable "name" {
  type        = string
  description = "Namespace name (the environment: dev, test, prod)."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.name)) && length(var.name) <= 63
    error_message = "name must be a DNS-1123 label."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels on the namespace."
  default     = {}
}

variable "resource_quota" {
  type        = map(string)
  description = "Hard limits of a ResourceQuota in the namespace (e.g. requests.cpu = \"2\"); empty: none."
  default     = {}
}
