//! What the multipart steps take and make (a created upload, signed parts, a
//! completed object, a client-named target), shared by the flow and by the
//! answer to a retried complete, so neither imports the other.

use crate::oss::multipart::PartPlan;
use chrono::{DateTime, Utc};

/// What create made.
pub(in crate::api) struct Created {
    pub key: String,
    pub upload_id: String,
    pub plan: Option<PartPlan>,
    pub expiration: DateTime<Utc>,
}

/// What complete made.
pub(in crate::api) struct Completed {
    pub location: String,
    pub etag: String,
    pub size: u64,
    pub parts: usize,
}

/// One signed part URL.
pub(in crate::api) struct SignedPart {
    pub part_number: u32,
    pub url: String,
    pub size: Option<u64>,
}

/// An upload named by a client: its key and upload id, checked.
pub(in crate::api) struct Target {
    pub key: String,
    pub upload_id: String,
}
