variable "buckets" {
  type        = map(string)
  description = "Buckets to create: purpose (e.g. backups, state) => bucket name."
}

variable "abort_incomplete_multipart_days" {
  type        = number
  description = "Days after which incomplete multipart uploads are aborted."
  default     = 1
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which NONCURRENT object versions expire (current objects never do)."
  default     = 30
}
