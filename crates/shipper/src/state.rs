//! `thanos.shipper.json`: the blocks the shipper has uploaded, in Thanos's
//! shape (`pkg/shipper`), so a Thanos sidecar and Argus read each other's:
//!
//! ```json
//! {"version": 1, "uploaded": ["01J…", "01J…"]}
//! ```
//!
//! written with tab indents, as Thanos's encoder writes it.
//!
//! The file only saves bucket look-ups: a block missing from it is looked
//! up in the bucket before it is uploaded.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The state file's name in the storage directory (Thanos's default).
pub const STATE_FILE: &str = "thanos.shipper.json";
/// The only `version` Thanos writes.
pub const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateJson {
    version: u32,
    /// Thanos writes `null` when nothing is uploaded.
    #[serde(default)]
    uploaded: Option<Vec<String>>,
}

/// What reading the state file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loaded {
    Found(Vec<Ulid>),
    Missing,
    /// Unreadable, not JSON, another version, or a bad ULID.
    Corrupt(String),
}

pub(crate) fn read(path: &Path) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Corrupt(e.to_string()),
    };
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Loaded {
    let json: StateJson = match serde_json::from_slice(bytes) {
        Ok(j) => j,
        Err(e) => return Loaded::Corrupt(e.to_string()),
    };
    if json.version != STATE_VERSION {
        return Loaded::Corrupt(format!(
            "version {} is not supported (expected {STATE_VERSION})",
            json.version
        ));
    }
    let mut ids = Vec::new();
    for s in json.uploaded.unwrap_or_default() {
        match Ulid::from_string(&s) {
            Ok(id) => ids.push(id),
            Err(e) => return Loaded::Corrupt(format!("invalid block id {s:?}: {e}")),
        }
    }
    Loaded::Found(ids)
}

/// The file's bytes as Thanos writes them (tab indent, trailing newline).
fn render(ids: &[Ulid]) -> Vec<u8> {
    let json = StateJson {
        version: STATE_VERSION,
        uploaded: Some(ids.iter().map(Ulid::to_string).collect()),
    };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // A struct of a number and strings always serializes.
    if json.serialize(&mut ser).is_err() {
        out.clear();
    }
    out.push(b'\n');
    out
}

/// An error writing the state file, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StateWriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes the state file atomically: a temporary file beside it, fsync,
/// rename, fsync of the directory.
pub(crate) fn write(path: &Path, ids: &[Ulid]) -> Result<(), StateWriteError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StateWriteError { path: p, source }
    };
    let res = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(err(&tmp))?;
        f.write_all(&render(ids))
            .and_then(|()| f.sync_all())
            .map_err(err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err(path))?;
        #[cfg(unix)]
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(err(dir))?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_thanos_shape_and_reads_it_back() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join(STATE_FILE);
        assert_eq!(read(&path), Loaded::Missing);
        let a = Ulid::from_string("01EM6Q6A1YPX4G9TEB20J22B2R").expect("ulid");
        let b = Ulid::from_string("01EM6Q6A1YPX4G9TEB20J22B2S").expect("ulid");
        write(&path, &[a, b]).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "{\n\t\"version\": 1,\n\t\"uploaded\": [\n\t\t\"01EM6Q6A1YPX4G9TEB20J22B2R\",\n\t\t\"01EM6Q6A1YPX4G9TEB20J22B2S\"\n\t]\n}\n"
        );
        assert_eq!(read(&path), Loaded::Found(vec![a, b]));
        assert!(!d.path().join(format!("{STATE_FILE}.tmp")).exists());
        write(&path, &[]).expect("write empty");
        assert_eq!(read(&path), Loaded::Found(vec![]));
    }

    #[test]
    fn reads_what_thanos_writes_and_refuses_garbage() {
        // Thanos's encoder writes a nil list as null.
        assert_eq!(
            parse(b"{\n\t\"version\": 1,\n\t\"uploaded\": null\n}\n"),
            Loaded::Found(vec![])
        );
        assert_eq!(parse(b"{\"version\": 1}"), Loaded::Found(vec![]));
        for bad in [
            &b""[..],
            b"\x00\xff garbage",
            b"{\"version\": 1, \"uploaded\": [\"nope\"]}",
            b"{\"version\": 2, \"uploaded\": []}",
            b"{\"uploaded\": []}",
            b"[1, 2]",
        ] {
            assert!(
                matches!(parse(bad), Loaded::Corrupt(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join(STATE_FILE);
        let a = Ulid::new();
        write(&path, &[a]).expect("write");
        // The temporary file cannot be created: a directory is in its way.
        std::fs::create_dir(d.path().join(format!("{STATE_FILE}.tmp"))).expect("mkdir");
        let e = write(&path, &[a, Ulid::new()]).err();
        assert!(e.is_some_and(|e| e.path.ends_with(format!("{STATE_FILE}.tmp"))));
        assert_eq!(read(&path), Loaded::Found(vec![a]));
    }
}
