//! OSS request signing: V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256) presigned URLs and POST policies.
