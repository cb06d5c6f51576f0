# --- where the cluster is (as in dev/test/prod) -----------------------------------------

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

variable "kube_cluster_ca_certificate" {
  type        = string
  description = "PEM CA certificate of the k3s API server (from the kubeconfig the portal fetched)."
}

variable "kube_token" {
  type        = string
  description = "Bearer token of the portal's service account on the cluster (cluster-admin: it installs operators)."
  sensitive   = true
}

# --- public names -------------------------------------------------------------------------

variable "zone_name" {
  type        = string
  description = "DNS zone the UIs are served under, e.g. example.com (records: the dns-records module or by hand)."
}

variable "kubero_hostname" {
  type        = string
  description = "Host name of the Kubero UI; empty: kubero.<zone_name>."
  default     = ""
}

variable "signoz_hostname" {
  type        = string
  description = "Host name of the SigNoz UI; empty: signoz.<zone_name>."
  default     = ""
}

variable "posthog_url" {
  type        = string
  description = "URL of a PostHog reachable elsewhere (PostHog Cloud, or a Docker Compose \"hobby\" host); empty: none. Not installed here: see terraform/README.md."
  default     = ""

  validation {
    condition     = var.posthog_url == "" || can(regex("^https://[^/]+", var.posthog_url))
    error_message = "posthog_url must be empty or an https:// URL."
  }
}

variable "storage_class" {
  type        = string
  description = "StorageClass of every volume (k3s ships local-path)."
  default     = "local-path"
}

# --- secrets: sensitive, no default, given as TF_VAR_* by the portal ---------------------

variable "kubero_session_key" {
  type        = string
  description = "Kubero UI session signing key (e.g. openssl rand -hex 32)."
  sensitive   = true

  validation {
    condition     = length(var.kubero_session_key) >= 32
    error_message = "kubero_session_key must be at least 32 characters."
  }
}

variable "kubero_webhook_secret" {
  type        = string
  description = "Secret Kubero checks on incoming git webhooks."
  sensitive   = true

  validation {
    condition     = length(var.kubero_webhook_secret) >= 20
    error_message = "kubero_webhook_secret must be at least 20 characters."
  }
}

variable "postgresql_superuser_password" {
  type        = string
  description = "Password of the postgres superuser of the platform PostgreSQL cluster."
  sensitive   = true

  validation {
    condition     = length(var.postgresql_superuser_password) >= 16
    error_message = "postgresql_superuser_password must be at least 16 characters."
  }
}

variable "postgresql_app_password" {
  type        = string
  description = "Password of the application role (owner of the application database)."
  sensitive   = true

  validation {
    condition     = length(var.postgresql_app_password) >= 16
    error_message = "postgresql_app_password must be at least 16 characters."
  }
}

variable "redis_password" {
  type        = string
  description = "Password Redis requires (requirepass)."
  sensitive   = true

  validation {
    condition     = length(var.redis_password) >= 16
    error_message = "redis_password must be at least 16 characters."
  }
}

variable "signoz_clickhouse_password" {
  type        = string
  description = "Password of SigNoz's ClickHouse user (replaces the chart's published default)."
  sensitive   = true

  validation {
    condition     = length(var.signoz_clickhouse_password) >= 16
    error_message = "signoz_clickhouse_password must be at least 16 characters."
  }
}

# --- sizes for one VPS --------------------------------------------------------------------

variable "postgresql_database" {
  type        = string
  description = "Name of the application database (and of its owner role)."
  default     = "app"
}

variable "postgresql_storage_size" {
  type        = string
  description = "Volume of the PostgreSQL instance."
  default     = "10Gi"
}

variable "redis_storage_size" {
  type        = string
  description = "Volume of Redis (append-only file)."
  default     = "2Gi"
}

variable "signoz_storage_size" {
  type        = string
  description = "Volume of SigNoz's ClickHouse (traces, logs, metrics)."
  default     = "20Gi"
}
