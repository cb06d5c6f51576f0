variable "name" {
  type        = string
  description = "Server name (also used for the firewall, SSH key and primary IPs)."
}

variable "server_type" {
  type        = string
  description = "Hetzner server type, e.g. cx22 or cax21."
}

variable "image" {
  type        = string
  description = "Operating system image."
  default     = "debian-12"
}

variable "location" {
  type        = string
  description = "Hetzner location, e.g. fsn1, nbg1, hel1."
}

variable "ssh_public_key" {
  type        = string
  description = "OpenSSH public key allowed to log in as root (a public key: not secret)."
}

variable "ssh_allowed_cidrs" {
  type        = list(string)
  description = "Source CIDRs allowed to reach SSH (22/tcp)."
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "Source CIDRs allowed to reach the Kubernetes API (6443/tcp)."
}

variable "k3s_version" {
  type        = string
  description = "Exact k3s release installed by cloud-init, e.g. v1.33.4+k3s1."
}

variable "tls_sans" {
  type        = list(string)
  description = "Extra names put in the API server certificate (the public IPv4 is always added)."
  default     = []
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every Hetzner object."
  default     = {}
}

variable "delete_protection" {
  type        = bool
  description = "Protect the server and its primary IPs against deletion and rebuild."
  default     = true
}
