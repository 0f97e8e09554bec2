//! The data directory's identity file, `tessera.meta`: what is fixed when
//! the directory is created (format version, bucket count, shard count).
//! Written once, atomically (temporary file, fsync, rename, fsync of the
//! directory).

use std::io::Write;
use std::path::Path;

use tessera_types::{sqlstate, Error, Result};

pub const META_FILE: &str = "tessera.meta";
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub format_version: u32,
    pub bucket_count: u32,
    pub shard_count: u16,
}

impl Meta {
    fn render(&self) -> String {
        format!(
            "# Tessera data directory. Do not edit.\nformat_version = {}\nbucket_count = {}\nshard_count = {}\n",
            self.format_version, self.bucket_count, self.shard_count
        )
    }

    fn parse(text: &str) -> Result<Meta> {
        let bad = |what: &str| Error::new(sqlstate::DATA_CORRUPTED, format!("{META_FILE}: {what}"));
        let get = |key: &str| -> Result<u64> {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .and_then(|(_, v)| v.trim().parse().ok())
                .ok_or_else(|| bad(&format!("missing or invalid {key}")))
        };
        let meta = Meta {
            format_version: get("format_version")? as u32,
            bucket_count: get("bucket_count")? as u32,
            shard_count: get("shard_count")? as u16,
        };
        if meta.format_version != FORMAT_VERSION {
            return Err(bad(&format!(
                "format version {} is not {FORMAT_VERSION}",
                meta.format_version
            )));
        }
        if meta.bucket_count == 0 || meta.shard_count == 0 {
            return Err(bad("zero buckets or shards"));
        }
        Ok(meta)
    }

    /// Reads the meta file, or creates it from `fresh` in a new directory.
    pub fn load_or_create(dir: &Path, fresh: Meta) -> Result<(Meta, bool)> {
        let path = dir.join(META_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Meta::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let tmp = dir.join(format!("{META_FILE}.tmp"));
                let mut f = std::fs::File::create(&tmp)
                    .map_err(|e| Error::io("creating the meta file", e))?;
                f.write_all(fresh.render().as_bytes())
                    .map_err(|e| Error::io("writing the meta file", e))?;
                f.sync_all()
                    .map_err(|e| Error::io("syncing the meta file", e))?;
                std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming the meta file", e))?;
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok((fresh, true))
            }
            Err(e) => Err(Error::io("reading the meta file", e)),
        }
    }
}
