output "bucket_names" {
  description = "Bucket names by purpose."
  value       = { for purpose, b in aws_s3_bucket.this : purpose => b.bucket }
}
