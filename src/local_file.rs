//! Reading the files a plan names — plans, Dockerfiles, CA files, files in
//! a build context — without being steered by them: only regular files are
//! read (a FIFO would block forever, `/dev/zero` never ends), the open
//! itself cannot block, and a whole-file read stops at a cap.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LocalFileError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} MiB", .0 / (1024 * 1024))]
    TooLarge(u64),
}

impl LocalFileError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(err) if err.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Opens `path` for reading if it is a regular file (symlinks are followed,
/// as a user would expect of a plan or Dockerfile; what they point at must
/// be regular too).
pub fn open_regular(path: &Path) -> Result<File, LocalFileError> {
    // Non-blocking, so that opening a FIFO with no writer returns at once;
    // the flag means nothing for the regular files that pass the check.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(LocalFileError::NotRegular(if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }))
}

/// The whole of a regular file of at most `max` bytes.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, LocalFileError> {
    let file = open_regular(path)?;
    let expected = file.metadata().map_or(0, |m| m.len());
    read_capped(file, expected, max)
}

/// All of `reader`, which is expected to hold `expected` bytes, if it holds
/// at most `max`. Read into a buffer of the expected size, in one call
/// where it can be (`read_to_end` would start at 8 KiB and double: nine
/// reads for a 2 MB plan); a reader that holds more than expected (a file
/// that grows while it is read) gets a buffer twice as large, and so on up
/// to one byte past the cap, which tells "exactly max" from "more".
fn read_capped(mut reader: impl Read, expected: u64, max: u64) -> Result<Vec<u8>, LocalFileError> {
    let cap = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let first = usize::try_from(expected.saturating_add(1)).map_or(cap, |n| n.min(cap));
    let mut bytes = vec![0; first.max(1)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled >= cap {
                return Err(LocalFileError::TooLarge(max));
            }
            bytes.resize(filled.saturating_mul(2).min(cap), 0);
        }
        match reader.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_expected_is_read_up_to_the_cap() {
        let text: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        // As expected, fewer than expected, more than expected (a file that
        // grew), nothing expected: all of it, whatever the reads return.
        for expected in [10_000, 5, 20_000, 0] {
            let read = read_capped(std::io::Cursor::new(&text), expected, 10_000).unwrap();
            assert_eq!(read, text, "expected {expected}");
        }
        // Reads that return a few bytes at a time.
        let trickle = std::io::Cursor::new(&text).take(10_000).chain(&b""[..]);
        let read = read_capped(std::io::BufReader::with_capacity(7, trickle), 3, 10_000).unwrap();
        assert_eq!(read, text);
        // One byte over the cap, however much was expected.
        for expected in [0, 9_999, 10_000, 10_001, 1 << 40] {
            assert!(matches!(
                read_capped(std::io::Cursor::new(&text), expected, 9_999),
                Err(LocalFileError::TooLarge(9_999))
            ));
        }
    }

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"12345").unwrap();
        assert_eq!(read(&small, 5).unwrap(), b"12345");
        assert!(matches!(read(&small, 4), Err(LocalFileError::TooLarge(4))));
        assert!(matches!(
            read(Path::new("/dev/zero"), 1 << 20),
            Err(LocalFileError::NotRegular("a device"))
        ));
        assert!(matches!(
            read(dir.path(), 10),
            Err(LocalFileError::NotRegular("a directory"))
        ));
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read(&fifo, 10),
            Err(LocalFileError::NotRegular("a FIFO"))
        ));
        assert!(
            read(&dir.path().join("missing"), 10)
                .unwrap_err()
                .is_not_found()
        );
    }
}
