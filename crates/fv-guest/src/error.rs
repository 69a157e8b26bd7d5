//! The one error type of the fetch/build boundary.

use std::io;
use std::path::PathBuf;

/// The archive a private apt run was pointed at, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveContext {
    /// The archive URI.
    pub uri: String,
    /// Where the URI came from: a sources file or the caller's override.
    pub uri_origin: String,
    /// The Debian suite.
    pub suite: String,
}

impl std::fmt::Display for ArchiveContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "archive {} (from {}), suite {}, arch riscv64",
            self.uri, self.uri_origin, self.suite
        )
    }
}

/// Why [`ensure_guest`](crate::ensure_guest) could not produce a guest.
///
/// Every message names what was being done: the file, the URI or the command.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No usable `deb` entry in the machine's apt sources.
    #[error(
        "no Debian archive URI found in the apt sources (read {searched}); set FetchOptions::apt_uri"
    )]
    NoAptSource {
        /// The files that were read, comma separated.
        searched: String,
    },

    /// The suite name cannot be used as a path component or apt argument.
    #[error("invalid suite name {suite:?}: expected letters, digits, '.', '-' or '_'")]
    InvalidSuite {
        /// The rejected suite.
        suite: String,
    },

    /// The Debian archive keyring that the private apt source is signed by is missing.
    #[error("missing {path}: install the debian-archive-keyring package")]
    MissingKeyring {
        /// The keyring path.
        path: PathBuf,
    },

    /// An external command could not be started.
    #[error("could not run `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it did not start.
        #[source]
        source: io::Error,
    },

    /// A private apt command exited with an error.
    #[error("`{command}` failed ({status}) for {archive}: {stderr_tail}")]
    AptCommand {
        /// The command line, without the private `-o` options.
        command: String,
        /// Exit status as printed by the OS.
        status: String,
        /// Which archive and suite apt was pointed at.
        archive: Box<ArchiveContext>,
        /// The last lines apt wrote to stderr.
        stderr_tail: String,
        /// True when the archive could not be reached at all.
        unreachable: bool,
    },

    /// `apt-cache depends linux-image-riscv64` named no kernel package.
    #[error(
        "could not resolve linux-image-riscv64 to a kernel package in {archive}; apt-cache said: {output_tail}"
    )]
    KernelPackageUnresolved {
        /// Which archive and suite apt was pointed at.
        archive: Box<ArchiveContext>,
        /// What apt-cache printed.
        output_tail: String,
    },

    /// A line of `apt-get --print-uris` output that does not have the expected shape.
    #[error("unexpected `apt-get --print-uris` output line {line:?}")]
    PrintUris {
        /// The line.
        line: String,
    },

    /// An HTTP(S) download failed.
    #[error("download of {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// The transport or status error.
        #[source]
        source: Box<ureq::Error>,
        /// True when the server could not be reached (no answer at all).
        unreachable: bool,
    },

    /// A downloaded or cached file does not have the size or hash apt announced.
    #[error("{what} of {path}: expected {expected}, got {actual}")]
    Mismatch {
        /// `SHA256`, `SHA512` or `size`.
        what: &'static str,
        /// The file (or URL) checked.
        path: String,
        /// What apt's index says.
        expected: String,
        /// What the file has.
        actual: String,
    },

    /// A `.deb` archive that could not be read or lacks an expected file.
    #[error("{path}: {reason}")]
    BadDeb {
        /// The `.deb` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The kernel found in the package is not (and could not be turned into) a flat RISC-V `Image`.
    #[error("{source_name}: not a RISC-V kernel Image: {reason}")]
    NotRiscvImage {
        /// Where the kernel came from (deb member path).
        source_name: String,
        /// What was found instead.
        reason: String,
    },

    /// A file system operation failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl FetchError {
    /// True when no guest can be had from here because the archive is unreachable
    /// (offline machine, mirror down) or no archive is configured at all.
    ///
    /// Tests use this to skip with a message instead of failing.
    pub fn is_source_unavailable(&self) -> bool {
        match self {
            FetchError::NoAptSource { .. } => true,
            FetchError::AptCommand { unreachable, .. } => *unreachable,
            FetchError::Http { unreachable, .. } => *unreachable,
            _ => false,
        }
    }

    /// The message of this error followed by its causes, `: `-separated.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur = std::error::Error::source(self);
        while let Some(err) = cur {
            out.push_str(": ");
            out.push_str(&err.to_string());
            cur = err.source();
        }
        out
    }

    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FetchError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
