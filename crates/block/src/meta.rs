//! `meta.json`, compatible with Prometheus and Thanos.
//!
//! ```json
//! {"ulid":"01H…","minTime":0,"maxTime":7200000,
//!  "stats":{"numSamples":480,"numSeries":1,"numChunks":4},
//!  "compaction":{"level":1,"sources":["01H…"]},
//!  "version":1,
//!  "thanos":{"labels":{"replica":"a"},"downsample":{"resolution":0},
//!            "source":"sidecar","files":[{"rel_path":"chunks.parquet","size_bytes":123}, …]},
//!  "argus":{"format":1,"chunk_window_ms":1800000,"num_windows":4,"chunk_overhang_ms":0}}
//! ```
//!
//! Unknown fields are ignored when reading, so metas written by Thanos or
//! Prometheus parse; `argus` is absent there.

use std::io::Write;
use std::path::Path;

use argus_model::Labels;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::{BlockError, META_FILE, fsync_dir};

/// The only `version` Prometheus and Thanos write.
pub const META_VERSION: u32 = 1;
/// The layout of `series.parquet`/`chunks.parquet` this crate writes.
pub const ARGUS_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    /// Inclusive start, milliseconds.
    pub min_time: i64,
    /// Exclusive end, milliseconds.
    pub max_time: i64,
    #[serde(default)]
    pub stats: BlockStats,
    #[serde(default)]
    pub compaction: Compaction,
    pub version: u32,
    #[serde(default)]
    pub thanos: ThanosMeta,
    /// Present on blocks written by Argus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argus: Option<ArgusMeta>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    #[serde(default)]
    pub num_samples: u64,
    #[serde(default)]
    pub num_series: u64,
    #[serde(default)]
    pub num_chunks: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    #[serde(default)]
    pub level: u32,
    #[serde(default, with = "ulid_vec")]
    pub sources: Vec<Ulid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
}

/// A parent block of a compacted block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    #[serde(with = "ulid_str")]
    pub ulid: Ulid,
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThanosMeta {
    /// External labels of the producer.
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub downsample: Downsample,
    /// Who made the block: `sidecar`, `compactor`, `import`, `ruler`, ...
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileMeta>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downsample {
    /// Resolution in milliseconds; 0 for raw data.
    #[serde(default)]
    pub resolution: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub rel_path: String,
    /// Absent for `meta.json` itself, as in Thanos.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size_bytes: u64,
}

/// How `chunks.parquet` divides the block into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgusMeta {
    pub format: u32,
    /// Width of each `chunks_<i>` column's window; window `i` starts at
    /// `minTime + i * chunk_window_ms`.
    pub chunk_window_ms: i64,
    pub num_windows: u32,
    /// The most any chunk extends past the end of the window it is stored
    /// in; a reader for `[mint, maxt]` needs windows ending at or after
    /// `mint - chunk_overhang_ms`.
    #[serde(default)]
    pub chunk_overhang_ms: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// An invariant of `meta.json` that [`BlockMeta::check`] found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    #[error("meta.json version {0} is not supported (expected {META_VERSION})")]
    Version(u32),
    #[error("meta.json minTime {min_time} is after maxTime {max_time}")]
    TimeRange { min_time: i64, max_time: i64 },
    #[error("argus block format {0} is not supported")]
    Format(u32),
    #[error("argus chunk window layout is empty")]
    EmptyLayout,
}

impl BlockMeta {
    /// Parses `meta.json` bytes; `path` names the source in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<BlockMeta, BlockError> {
        let meta: BlockMeta =
            serde_json::from_slice(bytes).map_err(|source| BlockError::MetaJson {
                path: path.to_path_buf(),
                source,
            })?;
        meta.check()
            .map_err(|m| BlockError::corrupt(path, m.to_string()))?;
        Ok(meta)
    }

    /// Checks invariants serde cannot.
    pub fn check(&self) -> Result<(), MetaError> {
        if self.version != META_VERSION {
            return Err(MetaError::Version(self.version));
        }
        if self.min_time > self.max_time {
            return Err(MetaError::TimeRange {
                min_time: self.min_time,
                max_time: self.max_time,
            });
        }
        if let Some(a) = &self.argus {
            if a.format != ARGUS_FORMAT {
                return Err(MetaError::Format(a.format));
            }
            if a.chunk_window_ms <= 0 || a.num_windows == 0 {
                return Err(MetaError::EmptyLayout);
            }
        }
        Ok(())
    }

    /// Reads `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta, BlockError> {
        let path = dir.join(META_FILE);
        let bytes = std::fs::read(&path).map_err(|e| BlockError::io(&path, e))?;
        BlockMeta::from_json(&bytes, &path)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs and string maps cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Writes `<dir>/meta.json` atomically: a temporary file, fsync, rename,
    /// fsync of the directory.
    pub fn write(&self, dir: &Path) -> Result<(), BlockError> {
        let path = dir.join(META_FILE);
        let tmp = dir.join(format!("{META_FILE}.tmp"));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(|e| BlockError::io(&tmp, e))?;
            f.write_all(&self.to_json())
                .and_then(|()| f.sync_all())
                .map_err(|e| BlockError::io(&tmp, e))?;
            drop(f);
            std::fs::rename(&tmp, &path).map_err(|e| BlockError::io(&path, e))?;
            fsync_dir(dir)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }

    /// The block's resolution in milliseconds (0 for raw data).
    pub fn resolution(&self) -> i64 {
        self.thanos.downsample.resolution
    }
}

mod ulid_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub fn serialize<S: Serializer>(u: &Ulid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(u)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = String::deserialize(d)?;
        Ulid::from_string(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid ulid {s:?}: {e}")))
    }
}

mod ulid_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};
    use ulid::Ulid;

    pub fn serialize<S: Serializer>(v: &[Ulid], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for u in v {
            seq.serialize_element(&u.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ulid>, D::Error> {
        let v = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        v.iter()
            .map(|s| {
                Ulid::from_string(s)
                    .map_err(|e| serde::de::Error::custom(format!("invalid ulid {s:?}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THANOS_META: &str = r#"{
	"ulid": "01EM6Q6A1YPX4G9TEB20J22B2R",
	"minTime": 1602237600000,
	"maxTime": 1602244800000,
	"stats": {"numSamples": 1957, "numSeries": 4, "numChunks": 20, "numFloatSamples": 1957},
	"compaction": {
		"level": 1,
		"sources": ["01EM6Q6A1YPX4G9TEB20J22B2R"],
		"hints": ["from-out-of-order"]
	},
	"version": 1,
	"thanos": {
		"labels": {"ext1": "val1", "replica": "r0"},
		"downsample": {"resolution": 0},
		"source": "sidecar",
		"segment_files": ["000001"],
		"files": [
			{"rel_path": "chunks/000001", "size_bytes": 3751},
			{"rel_path": "index", "size_bytes": 401, "hash": {"func": "SHA256", "value": "00"}},
			{"rel_path": "meta.json"}
		],
		"index_stats": {"series_max_size": 10}
	},
	"future": {"x": 1}
}"#;

    #[test]
    fn reads_thanos_meta_ignoring_unknown_fields() {
        let m = BlockMeta::from_json(THANOS_META.as_bytes(), Path::new("meta.json"));
        let m = match m {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(m.ulid.to_string(), "01EM6Q6A1YPX4G9TEB20J22B2R");
        assert_eq!(m.stats.num_samples, 1957);
        assert_eq!(m.compaction.sources, vec![m.ulid]);
        assert_eq!(m.thanos.labels.get("replica"), Some("r0"));
        assert_eq!(m.thanos.files.len(), 3);
        assert_eq!(m.thanos.files[2].size_bytes, 0);
        assert!(m.argus.is_none());
    }

    #[test]
    fn round_trips_and_omits_empty_fields() {
        let id = Ulid::new();
        let m = BlockMeta {
            ulid: id,
            min_time: 0,
            max_time: 7_200_000,
            stats: BlockStats {
                num_samples: 10,
                num_series: 1,
                num_chunks: 1,
                num_tombstones: 0,
            },
            compaction: Compaction {
                level: 1,
                sources: vec![id],
                ..Compaction::default()
            },
            version: META_VERSION,
            thanos: ThanosMeta {
                labels: Labels::from_pairs(&[("replica", "a")]),
                downsample: Downsample { resolution: 0 },
                source: "sidecar".to_string(),
                segment_files: vec![],
                files: vec![FileMeta {
                    rel_path: "meta.json".to_string(),
                    size_bytes: 0,
                }],
            },
            argus: Some(ArgusMeta {
                format: ARGUS_FORMAT,
                chunk_window_ms: 1_800_000,
                num_windows: 4,
                chunk_overhang_ms: 5,
            }),
        };
        let json = String::from_utf8(m.to_json()).unwrap_or_default();
        assert!(!json.contains("parents"), "{json}");
        assert!(!json.contains("numTombstones"), "{json}");
        assert!(json.contains("\"minTime\": 0"), "{json}");
        assert!(!json.contains("size_bytes"), "{json}");
        let back = BlockMeta::from_json(json.as_bytes(), Path::new("m"));
        assert_eq!(back.ok(), Some(m.clone()));

        let dir = tempfile::tempdir().expect("tempdir");
        m.write(dir.path()).expect("write");
        assert_eq!(BlockMeta::read(dir.path()).ok(), Some(m));
        assert!(!dir.path().join("meta.json.tmp").exists());
    }

    #[test]
    fn rejects_bad_meta() {
        let e = BlockMeta::from_json(b"{\"ulid\":\"x\"}", Path::new("/b/meta.json"));
        let e = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("/b/meta.json: invalid meta.json"), "{e}");
        let v2 = THANOS_META.replace("\"version\": 1", "\"version\": 2");
        let e = BlockMeta::from_json(v2.as_bytes(), Path::new("m")).err();
        assert!(e.is_some_and(|e| e.to_string().contains("version 2")));
    }
}
