//! Reading inbound mail from a Maildir (the directory a local MTA such as Postfix, Exim
//! or fetchmail/getmail delivers into): `new/` holds delivered, unseen messages, `cur/`
//! the ones we are done with. `tmp/` belongs to the delivering agent and is never read.
//!
//! Delivery is **at least once**: [`take_new`] only reads; a message stays in `new/` until
//! the caller has stored it and calls [`mark_done`]. A crash between storing and marking
//! reads the message again on the next pass, so the caller must dedupe — by Message-ID,
//! which [`crate::inbound::Inbound::message_id`] gives.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Reads up to `max` messages from `dir/new`, oldest name first (Maildir names start
/// with the delivery time), as (path, raw bytes). Hidden files (`.…`) are ignored; a
/// message that vanishes between listing and reading (another reader took it) is
/// skipped. Nothing is moved: call [`mark_done`] after storing each message.
pub fn take_new(dir: &Path, max: usize) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    if max == 0 {
        return Ok(Vec::new());
    }
    let mut names: Vec<OsString> = Vec::new();
    for entry in std::fs::read_dir(dir.join("new"))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") || !entry.file_type()?.is_file() {
            continue;
        }
        names.push(name);
    }
    names.sort_unstable();
    let mut out = Vec::with_capacity(names.len().min(max));
    for name in names {
        if out.len() == max {
            break;
        }
        let path = dir.join("new").join(&name);
        match std::fs::read(&path) {
            Ok(bytes) => out.push((path, bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Moves `file` (a path from [`take_new`]) to `dir/cur`, flagged seen (`:2,S`). Call it
/// only after the message is stored. Idempotent: marking a message already in `cur/` is
/// not an error.
pub fn mark_done(dir: &Path, file: &Path) -> io::Result<()> {
    let name = file.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", file.display()),
        )
    })?;
    let name = name.to_string_lossy();
    // A name may already carry Maildir info (`:2,…`); replace it.
    let base = name.split(":2,").next().unwrap_or(&name);
    let cur = dir.join("cur");
    std::fs::create_dir_all(&cur)?;
    let target = cur.join(format!("{base}:2,S"));
    match std::fs::rename(file, &target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && target.exists() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ledgerdesk-maildir-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        dir
    }

    #[test]
    fn takes_oldest_first_up_to_max_and_moves_only_when_marked() {
        let dir = maildir("take");
        for (name, body) in [
            ("1700000002.M2P1.host", "second"),
            ("1700000001.M1P1.host", "first"),
            ("1700000003.M3P1.host", "third"),
            (".hidden", "ignored"),
        ] {
            std::fs::write(dir.join("new").join(name), body).unwrap();
        }
        std::fs::write(dir.join("tmp").join("1700000000.M0P1.host"), "in delivery").unwrap();

        let got = take_new(&dir, 2).unwrap();
        let bodies: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bodies, vec![&b"first"[..], &b"second"[..]]);

        // Not marked: still there on the next read (at least once).
        assert_eq!(take_new(&dir, 10).unwrap().len(), 3);

        mark_done(&dir, &got[0].0).unwrap();
        assert!(dir.join("cur").join("1700000001.M1P1.host:2,S").is_file());
        assert!(!got[0].0.exists());
        // Marking twice is fine.
        mark_done(&dir, &got[0].0).unwrap();

        let rest = take_new(&dir, 10).unwrap();
        let bodies: Vec<&[u8]> = rest.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bodies, vec![&b"second"[..], &b"third"[..]]);
        assert!(take_new(&dir, 0).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_maildir_is_an_error() {
        let dir = std::env::temp_dir().join("ledgerdesk-maildir-does-not-exist-at-all");
        assert!(take_new(&dir, 1).is_err());
    }
}
