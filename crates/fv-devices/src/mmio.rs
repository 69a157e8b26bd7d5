//! Little helpers for decoding MMIO accesses.

/// The little-endian value of a 1, 2, 4 or 8 byte access; None otherwise.
pub(crate) fn value_of(data: &[u8]) -> Option<u64> {
    match data.len() {
        1 | 2 | 4 | 8 => {
            let mut b = [0u8; 8];
            b[..data.len()].copy_from_slice(data);
            Some(u64::from_le_bytes(b))
        }
        _ => None,
    }
}

/// Fills `data` with the low bytes of `value`, little-endian.
pub(crate) fn fill(data: &mut [u8], value: u64) {
    let b = value.to_le_bytes();
    for (i, d) in data.iter_mut().enumerate() {
        *d = b.get(i).copied().unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_fills_little_endian() {
        assert_eq!(value_of(&[0x34, 0x12]), Some(0x1234));
        assert_eq!(value_of(&[1, 2, 3]), None);
        assert_eq!(value_of(&[]), None);
        let mut d = [0u8; 4];
        fill(&mut d, 0x1122_3344_5566);
        assert_eq!(d, [0x66, 0x55, 0x44, 0x33]);
        let mut w = [0xffu8; 16];
        fill(&mut w, 1);
        assert_eq!(w[0], 1);
        assert!(w[1..].iter().all(|&b| b == 0));
    }
}
