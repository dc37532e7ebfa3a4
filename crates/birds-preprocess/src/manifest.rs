//! `cache.json`, the cache's manifest, and the shard file layout.
//!
//! A shard is a [safetensors](https://huggingface.co/docs/safetensors) file with one tensor, `images`, dtype `U8`,
//! shape `[n, side, side, 3]` (HWC, row-major, RGB). Its bytes are: an 8-byte little-endian header length `L`, a
//! JSON header of `L` bytes (padded with spaces to a multiple of 8), then the pixels. Image `k` of the shard starts
//! at byte `8 + L + k·side·side·3` (the `offset` column of `preprocessed.parquet`). Python reads a shard with
//! `safetensors.numpy.load_file(path)["images"]`.

use serde::{Deserialize, Serialize};

use crate::params::PreprocessParams;

/// The manifest's file name inside the cache folder.
pub const MANIFEST_FILE: &str = "cache.json";
/// The failures list's file name inside the cache folder.
pub const FAILURES_FILE: &str = "failures.json";
/// The value of [`Manifest::format`].
pub const FORMAT: &str = "birds-preprocess-cache";
/// The layout version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The name of the tensor inside every shard.
pub const TENSOR_NAME: &str = "images";

/// The file name of shard number `n`.
pub fn shard_file_name(n: usize) -> String {
    format!("shard-{n:05}.safetensors")
}

/// Whether `name` looks like a shard file this crate writes.
pub fn is_shard_file_name(name: &str) -> bool {
    name.strip_prefix("shard-")
        .and_then(|r| r.strip_suffix(".safetensors"))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The safetensors header for `n` images of `side`×`side`×3, padded to a multiple of 8 bytes.
pub fn shard_header(n: usize, side: u32) -> Vec<u8> {
    let bytes = n as u64 * u64::from(side) * u64::from(side) * 3;
    let mut header = format!(
        "{{\"{TENSOR_NAME}\":{{\"dtype\":\"U8\",\"shape\":[{n},{side},{side},3],\"data_offsets\":[0,{bytes}]}}}}"
    )
    .into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    header
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// File name inside the cache folder.
    pub file: String,
    /// Images in the shard.
    pub images: usize,
    /// Byte offset of the first pixel (8 + header length).
    pub data_offset: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// BLAKE3 of the whole file, hex.
    pub blake3: String,
}

/// `cache.json`: what the cache holds and how it was made. Written last, so its presence means complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for caches this version writes.
    pub format_version: u32,
    /// The birds version that wrote the cache.
    pub birds_version: String,
    /// The params the cache was built with.
    pub params: PreprocessParams,
    /// Stored side in pixels (`params.size + params.margin`).
    pub stored_side: u32,
    /// Channels per pixel (3, RGB).
    pub channels: u32,
    /// Pixel layout of each image (`HWC`).
    pub layout: String,
    /// Pixel type (`U8`).
    pub dtype: String,
    /// Images in the cache (rows of `preprocessed.parquet`).
    pub images: usize,
    /// Images ingest marked as not decodable (skipped; listed in `failures.json`).
    pub skipped_ingest: usize,
    /// Images that failed to decode or resize here (listed in `failures.json`).
    pub failures: usize,
    /// Class labels indexed by `class_id` (from `images.parquet`, all rows).
    pub classes: Vec<String>,
    /// The shards in order; samples are numbered through them.
    pub shards: Vec<ShardInfo>,
}

/// One image that is not in the cache, and why (`failures.json` is a JSON array of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Path relative to the data root.
    pub path: String,
    /// The data root.
    pub root: String,
    /// Dataset split.
    pub split: String,
    /// Class label.
    pub label: String,
    /// `ingest` (ingest marked it undecodable; skipped) or `preprocess` (failed here).
    pub source: String,
    /// Why.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_valid_safetensors() {
        let side = 4u32;
        let n = 3usize;
        let header = shard_header(n, side);
        assert_eq!(header.len() % 8, 0);
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(&header);
        let data: Vec<u8> = (0..n * 4 * 4 * 3).map(|i| (i % 251) as u8).collect();
        file.extend_from_slice(&data);
        let st = safetensors::SafeTensors::deserialize(&file);
        let Ok(st) = st else {
            panic!("safetensors rejected the header: {:?}", st.err());
        };
        let t = st.tensor(TENSOR_NAME);
        let Ok(t) = t else { panic!("no images tensor") };
        assert_eq!(t.shape(), &[3, 4, 4, 3]);
        assert_eq!(t.dtype(), safetensors::Dtype::U8);
        assert_eq!(t.data(), &data[..]);
    }

    #[test]
    fn shard_names() {
        assert_eq!(shard_file_name(7), "shard-00007.safetensors");
        assert!(is_shard_file_name("shard-00007.safetensors"));
        assert!(!is_shard_file_name("shard-.safetensors"));
        assert!(!is_shard_file_name("model.safetensors"));
    }
}
