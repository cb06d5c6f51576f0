variable "zone_id" {
  type        = string
  description = "Cloudflare zone id."
}

variable "zone_name" {
  type        = string
  description = "DNS zone, e.g. example.com."
}

variable "environment" {
  type        = string
  description = "Environment name; records are <environment>.<zone> and *.<environment>.<zone>."
}

variable "apex" {
  type        = bool
  description = "Use the zone apex and *.<zone> instead of <environment>.<zone> (prod)."
  default     = false
}

variable "ipv4" {
  type        = string
  description = "Address for the A records."
}

variable "ipv6" {
  type        = string
  description = "Address for the AAAA records; null for none."
  default     = null
}

variable "proxied" {
  type        = bool
  description = "Proxy the records through Cloudflare."
  default     = false
}

variable "ttl" {
  type        = number
  description = "Record TTL in seconds; 1 means automatic."
  default     = 1
}
