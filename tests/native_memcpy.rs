//! The C `memcpy` that replaces musl's in the deployed build (src/native/memcpy.c)
//! must copy exactly like a byte loop, for every length and alignment the size
//! classes touch. It is compiled on every x86_64 target, so this runs in the
//! normal test suite; on musl the same routine is what every memcpy call uses.
#![cfg(native_memcpy)]

extern crate oss_direct_upload;

extern "C" {
    fn oss_direct_upload_memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
}

fn copy(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len());
    // SAFETY: two distinct slices of equal length; the routine writes exactly `len` bytes.
    let r = unsafe { oss_direct_upload_memcpy(dst.as_mut_ptr(), src.as_ptr(), src.len()) };
    assert_eq!(r, dst.as_mut_ptr(), "returns dst");
}

#[test]
fn copies_every_length_and_alignment_exactly() {
    let src: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let lengths = (0..=600).chain([1023, 1024, 1025, 2047, 2048, 4000]);
    for n in lengths {
        for src_off in [0usize, 1, 3, 7, 8, 15] {
            for dst_off in [0usize, 1, 5, 9, 16] {
                if src_off + n > src.len() {
                    continue;
                }
                let mut dst = vec![0xAAu8; n + dst_off + 32];
                copy(&mut dst[dst_off..dst_off + n], &src[src_off..src_off + n]);
                assert_eq!(
                    &dst[dst_off..dst_off + n],
                    &src[src_off..src_off + n],
                    "n={n} src+{src_off} dst+{dst_off}"
                );
                assert!(
                    dst[..dst_off].iter().all(|b| *b == 0xAA),
                    "wrote before dst (n={n})"
                );
                assert!(
                    dst[dst_off + n..].iter().all(|b| *b == 0xAA),
                    "wrote past the end (n={n})"
                );
            }
        }
    }
}
