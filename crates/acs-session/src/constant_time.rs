//! Constant-time comparison.
//!
//! ring's own `constant_time::verify_slices_are_equal` is deprecated ("internal function, no
//! promises"), so the comparison is ours: it looks at every byte whatever the content, and only
//! the lengths (which are public: hex digests have fixed lengths) decide early.

/// `true` when `a == b`, in time that depends on the lengths only.
pub(crate) fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::eq;

    #[test]
    fn compares_content_and_length() {
        assert!(eq(b"", b""));
        assert!(eq(b"abc", b"abc"));
        assert!(!eq(b"abc", b"abd"));
        assert!(!eq(b"abc", b"abcd"));
        assert!(!eq(b"\x00", b"\x80"));
    }
}
