# S3-compatible buckets (AWS S3, Cloudflare R2, ...), versioned. The lifecycle
# rule only cleans up: it aborts incomplete multipart uploads and expires
# noncurrent versions. It never expires current objects (no `expiration` block).

resource "aws_s3_bucket" "this" {
  for_each = var.buckets

  bucket        = each.value
  force_destroy = false

  tags = {
    purpose    = each.key
    managed-by = "eaas-portal"
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "abort-multipart-and-expire-noncurrent"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
