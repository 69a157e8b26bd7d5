//! Loading guest software into RAM: riscv64 Linux `Image` files, ELF
//! programs and initrds.
//!
//! linux-loader's riscv64 `Image` support is compiled only when the *host*
//! is riscv64 (and its ELF loader only on x86 hosts), so it does not fit an
//! emulator that runs riscv64 guests on any host; the Image header is small
//! and documented (Linux `Documentation/arch/riscv/boot-image-header.rst`),
//! so we read it here. ELF parsing uses the `object` crate.

use std::path::Path;

use fv_machine::GuestRam;

/// A loading failure; messages name the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {what} '{path}': {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("kernel '{path}' is not a riscv64 Linux Image or ELF file ({why})")]
    NotAKernel { path: String, why: String },
    #[error("{what} '{path}' needs {need:#x} bytes at {addr:#x}, which does not fit in guest RAM ({ram_base:#x}+{ram_size:#x}); use a larger --mem")]
    DoesNotFit {
        what: &'static str,
        path: String,
        addr: u64,
        need: u64,
        ram_base: u64,
        ram_size: u64,
    },
    #[error("ELF file '{path}': {why}")]
    BadElf { path: String, why: String },
}

/// Where a kernel landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedKernel {
    pub entry: u64,
    /// First byte past the kernel's memory image (including bss).
    pub end: u64,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn place(
    ram: &GuestRam,
    what: &'static str,
    path: &Path,
    addr: u64,
    data: &[u8],
    need: u64,
) -> Result<(), LoadError> {
    let too_big = || LoadError::DoesNotFit {
        what,
        path: path.display().to_string(),
        addr,
        need,
        ram_base: ram.base(),
        ram_size: ram.size(),
    };
    if ram.offset_of(addr, need.max(data.len() as u64)).is_none() {
        return Err(too_big());
    }
    ram.write_slice(addr, data).map_err(|_| too_big())
}

/// The fields of the riscv64 Image header we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub text_offset: u64,
    pub image_size: u64,
}

/// Parses a riscv64 `Image` header: magic "RSC\x05" at 56 (or the
/// deprecated "RISCV\0\0\0" at 48), little-endian text_offset at 8 and
/// image_size at 16.
pub fn parse_image_header(data: &[u8]) -> Result<ImageHeader, String> {
    if data.len() < 64 {
        return Err(format!("only {} bytes long", data.len()));
    }
    let magic2 = &data[56..60] == b"RSC\x05";
    let magic = &data[48..56] == b"RISCV\0\0\0";
    if !magic && !magic2 {
        return Err("no RISC-V Image magic at offset 48/56".into());
    }
    let le = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
    let text_offset = le(8);
    let image_size = le(16);
    if text_offset % 4096 != 0 {
        return Err(format!("text_offset {text_offset:#x} is not page aligned"));
    }
    Ok(ImageHeader {
        text_offset,
        // Older images may leave image_size 0: then the file size is all.
        image_size: if image_size == 0 {
            data.len() as u64
        } else {
            image_size
        },
    })
}

/// Loads a Linux kernel for an S-mode boot: an `Image` at RAM base +
/// text_offset, or an ELF at its physical addresses.
pub fn load_linux(ram: &GuestRam, path: &Path) -> Result<LoadedKernel, LoadError> {
    let data = read("kernel", path)?;
    if data.starts_with(b"\x7fELF") {
        return load_elf_data(ram, path, &data);
    }
    let hdr = parse_image_header(&data).map_err(|why| LoadError::NotAKernel {
        path: path.display().to_string(),
        why,
    })?;
    let addr = ram.base() + hdr.text_offset;
    let need = hdr.image_size.max(data.len() as u64);
    place(ram, "kernel", path, addr, &data, need)?;
    Ok(LoadedKernel {
        entry: addr,
        end: addr + need,
    })
}

/// Loads a bare-metal program: an ELF at its physical addresses, or a raw
/// binary at the base of RAM.
pub fn load_bare(ram: &GuestRam, path: &Path) -> Result<LoadedKernel, LoadError> {
    let data = read("kernel", path)?;
    if data.starts_with(b"\x7fELF") {
        return load_elf_data(ram, path, &data);
    }
    if data.is_empty() {
        return Err(LoadError::NotAKernel {
            path: path.display().to_string(),
            why: "the file is empty".into(),
        });
    }
    place(ram, "kernel", path, ram.base(), &data, data.len() as u64)?;
    Ok(LoadedKernel {
        entry: ram.base(),
        end: ram.base() + data.len() as u64,
    })
}

fn load_elf_data(ram: &GuestRam, path: &Path, data: &[u8]) -> Result<LoadedKernel, LoadError> {
    use object::elf::{FileHeader64, EM_RISCV, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::LittleEndian as LE;
    let bad = |why: String| LoadError::BadElf {
        path: path.display().to_string(),
        why,
    };
    let hdr = FileHeader64::<LE>::parse(data)
        .map_err(|e| bad(format!("not a 64-bit little-endian ELF: {e}")))?;
    let e = LE;
    if hdr.e_machine(e) != EM_RISCV {
        return Err(bad(format!(
            "machine {} is not RISC-V ({EM_RISCV})",
            hdr.e_machine(e)
        )));
    }
    let phdrs = hdr
        .program_headers(e, data)
        .map_err(|err| bad(format!("program headers: {err}")))?;
    let mut end = 0u64;
    let mut loaded = 0;
    for ph in phdrs {
        if ph.p_type(e) != PT_LOAD || ph.p_memsz(e) == 0 {
            continue;
        }
        let addr = ph.p_paddr(e);
        let memsz = ph.p_memsz(e);
        let bytes = ph
            .data(e, data)
            .map_err(|_| bad(format!("segment at {addr:#x} lies outside the file")))?;
        if bytes.len() as u64 > memsz {
            return Err(bad(format!("segment at {addr:#x} has filesz > memsz")));
        }
        place(ram, "ELF segment of", path, addr, bytes, memsz)?;
        // Zero the bss part explicitly (RAM may be reused across reboots).
        let zeros = vec![0u8; (memsz - bytes.len() as u64) as usize];
        place(
            ram,
            "ELF segment of",
            path,
            addr + bytes.len() as u64,
            &zeros,
            zeros.len() as u64,
        )?;
        end = end.max(addr + memsz);
        loaded += 1;
    }
    if loaded == 0 {
        return Err(bad("no loadable segments".into()));
    }
    Ok(LoadedKernel {
        entry: hdr.e_entry(e),
        end,
    })
}

/// Loads the initrd at `addr` (chosen by the caller); returns its end.
pub fn load_initrd(ram: &GuestRam, path: &Path, addr: u64, limit: u64) -> Result<u64, LoadError> {
    let data = read("initrd", path)?;
    let end = addr + data.len() as u64;
    if end > limit {
        return Err(LoadError::DoesNotFit {
            what: "initrd",
            path: path.display().to_string(),
            addr,
            need: data.len() as u64,
            ram_base: ram.base(),
            ram_size: ram.size(),
        });
    }
    place(ram, "initrd", path, addr, &data, data.len() as u64)?;
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text_offset: u64, image_size: u64) -> Vec<u8> {
        let mut v = vec![0u8; 4096];
        v[8..16].copy_from_slice(&text_offset.to_le_bytes());
        v[16..24].copy_from_slice(&image_size.to_le_bytes());
        v[48..56].copy_from_slice(b"RISCV\0\0\0");
        v[56..60].copy_from_slice(b"RSC\x05");
        v[0x100] = 0xaa;
        v
    }

    #[test]
    fn image_header_is_checked() {
        assert_eq!(
            parse_image_header(&image(0x20_0000, 0x1_0000)),
            Ok(ImageHeader {
                text_offset: 0x20_0000,
                image_size: 0x1_0000
            })
        );
        assert!(parse_image_header(&[0u8; 100]).is_err());
        assert!(parse_image_header(&[0u8; 10]).is_err());
        assert!(parse_image_header(&image(0x123, 0)).is_err());
    }

    #[test]
    fn loads_image_at_text_offset_and_checks_fit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Image");
        std::fs::write(&p, image(0x20_0000, 0x8000)).unwrap();
        let ram = GuestRam::new(0x8000_0000, 4 << 20).unwrap();
        let k = load_linux(&ram, &p).unwrap();
        assert_eq!(k.entry, 0x8020_0000);
        assert_eq!(k.end, 0x8020_8000);
        let mut b = [0u8; 1];
        ram.read_slice(0x8020_0100, &mut b).unwrap();
        assert_eq!(b[0], 0xaa);
        // image_size beyond RAM.
        std::fs::write(&p, image(0x20_0000, 8 << 20)).unwrap();
        let err = load_linux(&ram, &p).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
        // Not a kernel.
        std::fs::write(
            &p,
            b"hello world, definitely not a kernel image. padding padding padding",
        )
        .unwrap();
        let err = load_linux(&ram, &p).unwrap_err().to_string();
        assert!(err.contains("not a riscv64 Linux Image"), "{err}");
        // Missing file names the path.
        let err = load_linux(&ram, &dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn initrd_must_fit_below_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("initrd");
        std::fs::write(&p, vec![7u8; 8192]).unwrap();
        let ram = GuestRam::new(0x8000_0000, 4 << 20).unwrap();
        assert_eq!(
            load_initrd(&ram, &p, 0x8010_0000, 0x8040_0000).unwrap(),
            0x8010_2000
        );
        assert!(load_initrd(&ram, &p, 0x8010_0000, 0x8010_1000).is_err());
    }
}
