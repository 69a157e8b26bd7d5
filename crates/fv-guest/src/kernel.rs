//! The RISC-V Linux boot image (`Documentation/arch/riscv/boot-image-header.rst`)
//! and the formats a distribution kernel may come in.

use std::io::Read;

use crate::FetchError;

/// `magic2` at offset 56 of a RISC-V Image header.
pub const IMAGE_MAGIC2: &[u8; 4] = b"RSC\x05";
const HEADER_LEN: usize = 64;

/// What a kernel file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelFormat {
    /// Flat RISC-V `Image`.
    Image,
    /// Flat RISC-V `Image` that also carries an EFI stub (starts with "MZ").
    ImageEfi,
    /// gzip-compressed `Image` (`Image.gz`).
    Gzip,
    /// EFI zboot: a PE stub with a compressed `Image` payload; the compression name.
    Zboot(String),
    /// An ELF `vmlinux` (needs objcopy; not handled).
    Elf,
    /// Anything else.
    Unknown,
}

impl KernelFormat {
    /// Short name used in `versions.txt`.
    pub fn name(&self) -> String {
        match self {
            KernelFormat::Image => "image".into(),
            KernelFormat::ImageEfi => "image-efi".into(),
            KernelFormat::Gzip => "gzip".into(),
            KernelFormat::Zboot(c) => format!("zboot-{c}"),
            KernelFormat::Elf => "elf".into(),
            KernelFormat::Unknown => "unknown".into(),
        }
    }
}

/// Fields of the RISC-V Image header that a loader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset from the start of RAM at which the image expects to be loaded.
    pub text_offset: u64,
    /// Effective size of the image in memory (includes bss), 0 if unknown.
    pub image_size: u64,
    /// Whether the image has an EFI (PE/COFF) stub.
    pub efi: bool,
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Classifies a kernel file by its first bytes.
pub fn classify(bytes: &[u8]) -> KernelFormat {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return KernelFormat::Gzip;
    }
    if bytes.starts_with(b"\x7fELF") {
        return KernelFormat::Elf;
    }
    if bytes.get(56..60) == Some(IMAGE_MAGIC2) && bytes.len() >= HEADER_LEN {
        return if bytes.starts_with(b"MZ") {
            KernelFormat::ImageEfi
        } else {
            KernelFormat::Image
        };
    }
    // drivers/firmware/efi/libstub/zboot-header.S: "MZ", then "zimg", payload
    // offset and size, and the compression name at 24.
    if bytes.starts_with(b"MZ") && bytes.get(4..8) == Some(b"zimg") {
        let name = bytes.get(24..56).unwrap_or(&[]);
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        return KernelFormat::Zboot(String::from_utf8_lossy(name).into_owned());
    }
    KernelFormat::Unknown
}

/// Checks that `bytes` is a flat RISC-V Image and returns its header.
pub fn image_header(bytes: &[u8], source_name: &str) -> Result<ImageHeader, FetchError> {
    let not = |reason: String| FetchError::NotRiscvImage {
        source_name: source_name.to_string(),
        reason,
    };
    if bytes.len() < HEADER_LEN {
        return Err(not(format!("only {} bytes", bytes.len())));
    }
    match classify(bytes) {
        KernelFormat::Image | KernelFormat::ImageEfi => {}
        other => {
            return Err(not(format!(
                "no \"RSC\\x05\" magic at offset 56 (looks like: {})",
                other.name()
            )))
        }
    }
    let text_offset = le64(bytes, 8).ok_or_else(|| not("short header".into()))?;
    let image_size = le64(bytes, 16).ok_or_else(|| not("short header".into()))?;
    Ok(ImageHeader {
        text_offset,
        image_size,
        efi: bytes.starts_with(b"MZ"),
    })
}

fn decompress(kind: &str, data: &[u8], source_name: &str) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    let result = match kind {
        "gzip" => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        "xzkern" | "xz" => liblzma::read::XzDecoder::new(data).read_to_end(&mut out),
        other => {
            return Err(FetchError::NotRiscvImage {
                source_name: source_name.to_string(),
                reason: format!("unsupported kernel compression {other:?}"),
            })
        }
    };
    result.map_err(|e| FetchError::NotRiscvImage {
        source_name: source_name.to_string(),
        reason: format!("{kind} decompression failed: {e}"),
    })?;
    Ok(out)
}

/// Turns a distribution kernel file into a flat Image: returns the Image, its header
/// and the original format. Rejects anything that does not end up with the Image magic.
pub fn to_flat_image(
    bytes: Vec<u8>,
    source_name: &str,
) -> Result<(Vec<u8>, ImageHeader, KernelFormat), FetchError> {
    let format = classify(&bytes);
    let image = match &format {
        KernelFormat::Image | KernelFormat::ImageEfi => bytes,
        KernelFormat::Gzip => decompress("gzip", &bytes, source_name)?,
        KernelFormat::Zboot(kind) => {
            let bad = || FetchError::NotRiscvImage {
                source_name: source_name.to_string(),
                reason: "zboot payload offset/size out of range".into(),
            };
            let off = le32(&bytes, 8).ok_or_else(bad)? as usize;
            let len = le32(&bytes, 12).ok_or_else(bad)? as usize;
            let payload = bytes
                .get(off..off.checked_add(len).ok_or_else(bad)?)
                .ok_or_else(bad)?;
            decompress(kind, payload, source_name)?
        }
        KernelFormat::Elf => {
            return Err(FetchError::NotRiscvImage {
                source_name: source_name.to_string(),
                reason: "ELF vmlinux (needs objcopy -O binary; not handled)".into(),
            })
        }
        KernelFormat::Unknown => {
            return Err(FetchError::NotRiscvImage {
                source_name: source_name.to_string(),
                reason: "unknown format".into(),
            })
        }
    };
    let header = image_header(&image, source_name)?;
    Ok((image, header, format))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A 4 KiB fake Image with a valid header.
    pub(crate) fn fake_image(efi: bool) -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        if efi {
            img[0..2].copy_from_slice(b"MZ");
        }
        img[8..16].copy_from_slice(&0x20_0000u64.to_le_bytes());
        img[16..24].copy_from_slice(&0x1e6_b000u64.to_le_bytes());
        img[48..56].copy_from_slice(b"RISCV\0\0\0");
        img[56..60].copy_from_slice(IMAGE_MAGIC2);
        img
    }

    #[test]
    fn accepts_image() {
        let (img, header, format) = to_flat_image(fake_image(true), "vmlinux").unwrap();
        assert_eq!(format, KernelFormat::ImageEfi);
        assert_eq!(header.text_offset, 0x20_0000);
        assert_eq!(header.image_size, 0x1e6_b000);
        assert!(header.efi);
        assert_eq!(img.len(), 4096);
        assert_eq!(classify(&fake_image(false)), KernelFormat::Image);
    }

    #[test]
    fn rejects_non_image() {
        for (bytes, what) in [
            (vec![0u8; 4096], "unknown"),
            (b"\x7fELF\x02\x01\x01".repeat(20), "ELF"),
            (b"short".to_vec(), "unknown"),
        ] {
            let err = to_flat_image(bytes, "boot/vmlinux-x").unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, FetchError::NotRiscvImage { .. }), "{msg}");
            assert!(
                msg.contains("boot/vmlinux-x") && msg.contains(what),
                "{msg}"
            );
        }
        // An arm64 Image ("ARM\x64" at 56) is not ours.
        let mut arm = fake_image(false);
        arm[56..60].copy_from_slice(b"ARM\x64");
        assert!(image_header(&arm, "x").is_err());
    }

    #[test]
    fn gzip_and_zboot_are_unpacked() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&fake_image(true)).unwrap();
        let gz = gz.finish().unwrap();
        let (img, _, format) = to_flat_image(gz.clone(), "vmlinuz").unwrap();
        assert_eq!(format, KernelFormat::Gzip);
        assert_eq!(img, fake_image(true));

        let mut zboot = vec![0u8; 512];
        zboot[0..2].copy_from_slice(b"MZ");
        zboot[4..8].copy_from_slice(b"zimg");
        zboot[8..12].copy_from_slice(&512u32.to_le_bytes());
        zboot[12..16].copy_from_slice(&(gz.len() as u32).to_le_bytes());
        zboot[24..28].copy_from_slice(b"gzip");
        zboot.extend_from_slice(&gz);
        let (img, _, format) = to_flat_image(zboot, "vmlinuz").unwrap();
        assert_eq!(format, KernelFormat::Zboot("gzip".into()));
        assert_eq!(img, fake_image(true));

        // A gzip that does not contain an Image is still rejected.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[0u8; 4096]).unwrap();
        assert!(to_flat_image(gz.finish().unwrap(), "vmlinuz").is_err());
    }
}
