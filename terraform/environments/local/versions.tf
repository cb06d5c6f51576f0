# Offline stand-in for the real stacks: only the built-in "terraform" provider
# (terraform_data) and local-exec, so it plans and applies with no network.
#
# There is deliberately no backend block: state is local unless the portal
# injects one at run time (it writes a `*_override.tf` with
# `terraform { backend "s3" {} }` and passes -backend-config).
terraform {
  required_version = ">= 1.6.0"
}
