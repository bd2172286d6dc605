//! STS AssumeRole: request signing, client, credential cache, session policy.
