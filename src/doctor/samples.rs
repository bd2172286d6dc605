//! The small, real files the doctor uploads: for a profile's allowed types,
//! one it can make (PNG, JPEG, PDF, MP4, JSON, text) at a size inside the
//! profile's limits, so the upload check has every reason to verify it.

/// A file to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The `Content-Type` to declare (one the profile allows).
    pub content_type: String,
    /// The file name extension to use.
    pub ext: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The largest file the doctor uploads (a profile whose minimum is larger is
/// skipped, with a note).
pub const MAX_SAMPLE_BYTES: u64 = 16 * 1024 * 1024;

const TEXT: &[u8] = b"oss-direct-upload doctor: a test upload, safe to delete.\n";

/// A 1x1 PNG (a standard minimal image, CRCs and zlib stream included).
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// A 1x1 grey baseline JPEG: one quantisation table, one one-code Huffman
/// table each for DC and AC, and a single block (DC difference 0, then EOB).
fn jpeg_1x1() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend([1u8; 64]);
    j.extend([
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00,
    ]);
    for class in [0x00u8, 0x10] {
        j.extend([0xFF, 0xC4, 0x00, 0x14, class, 0x01]);
        j.extend([0u8; 15]);
        j.push(0x00);
    }
    j.extend([
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x3F, 0xFF, 0xD9,
    ]);
    j
}

/// A one-page PDF with a correct cross-reference table.
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

/// An ISO base media file: an `ftyp` box (brand `isom`) and a `free` box
/// that carries the padding.
fn mp4(len: usize) -> Vec<u8> {
    let mut m = vec![0, 0, 0, 0x18];
    m.extend(b"ftypisom");
    m.extend([0, 0, 2, 0]);
    m.extend(b"isomiso2");
    let free = len.saturating_sub(m.len()).max(8);
    m.extend((free as u32).to_be_bytes());
    m.extend(b"free");
    m.resize(m.len() + free - 8, 0);
    m
}

/// `bytes` grown to at least `len`: text with more text, binary files with
/// zero bytes after their end (readers stop at the end marker).
fn pad(mut bytes: Vec<u8>, len: usize, text: bool) -> Vec<u8> {
    while bytes.len() < len {
        if text {
            bytes.extend_from_slice(TEXT);
        } else {
            bytes.push(0);
        }
    }
    if text {
        // Whole lines, then cut to the exact size with ASCII only.
        bytes.truncate(len.max(TEXT.len()));
    }
    bytes
}

/// A file of a type `content_types` allows, between `min_bytes` and
/// `max_bytes`; `None` when the doctor can make none of them (or the
/// profile's minimum is over [`MAX_SAMPLE_BYTES`]).
pub fn for_profile(content_types: &[String], min_bytes: u64, max_bytes: u64) -> Option<Sample> {
    if min_bytes > MAX_SAMPLE_BYTES {
        return None;
    }
    let allows = |t: &str| {
        content_types
            .iter()
            .any(|c| c == "*" || c.eq_ignore_ascii_case(t))
    };
    let min = min_bytes as usize;
    let (content_type, ext, bytes): (String, &'static str, Vec<u8>) = if allows("image/png") {
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, PNG_1X1)
            .unwrap_or_default();
        ("image/png".into(), "png", pad(png, min, false))
    } else if allows("image/jpeg") {
        ("image/jpeg".into(), "jpg", pad(jpeg_1x1(), min, false))
    } else if allows("text/plain") {
        ("text/plain".into(), "txt", pad(TEXT.to_vec(), min, true))
    } else if allows("application/pdf") {
        ("application/pdf".into(), "pdf", pad(pdf(), min, false))
    } else if allows("video/mp4") {
        ("video/mp4".into(), "mp4", mp4(min.max(32)))
    } else if allows("application/json") {
        let json = br#"{"doctor": "a test upload, safe to delete"}"#.to_vec();
        ("application/json".into(), "json", pad(json, min, false))
    } else if let Some(t) = content_types.iter().find(|t| t.starts_with("text/")) {
        (t.clone(), "txt", pad(TEXT.to_vec(), min, true))
    } else if allows("application/octet-stream") {
        (
            "application/octet-stream".into(),
            "bin",
            pad(TEXT.to_vec(), min, true),
        )
    } else {
        return None;
    };
    (bytes.len() as u64 <= max_bytes).then_some(Sample {
        content_type,
        ext,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn each_sample_sniffs_as_its_type_and_fits_the_limits() {
        for (allowed, want, min) in [
            (&["image/png", "image/jpeg"][..], "image/png", 1),
            (&["image/jpeg"][..], "image/jpeg", 1),
            (
                &["application/pdf", "application/zip"][..],
                "application/pdf",
                1,
            ),
            (&["video/mp4"][..], "video/mp4", 1_048_576),
            (&["text/plain"][..], "text/plain", 1000),
            (&["*"][..], "image/png", 1),
        ] {
            let s = for_profile(&types(allowed), min, 1 << 30).unwrap();
            assert_eq!(s.content_type, want);
            assert!(s.bytes.len() as u64 >= min, "{want}");
            let head = &s.bytes[..s.bytes.len().min(8192)];
            crate::check::rules::check_type(want, head, s.bytes.len() <= 8192)
                .unwrap_or_else(|v| panic!("{want}: {}", v.message));
        }
        assert_eq!(for_profile(&types(&["video/mp4"]), 1 << 40, u64::MAX), None);
        assert_eq!(for_profile(&types(&["image/webp"]), 1, 100), None);
        assert_eq!(for_profile(&types(&["image/png"]), 1, 10), None);
    }
}
