//! File bodies served by `/api/v0.1/Download/file`: deterministic bytes
//! derived from the dataURI, so sizes and checksums hold without storing
//! anything. A `.fits` file starts with one 2880-byte FITS primary header
//! (no data); every other byte comes from a ChaCha20 stream keyed by
//! `sha256(dataURI)`, addressable at any offset (for `Range` requests).

use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};

const BLOCK: usize = 2880;

/// Deterministic content of one file.
pub struct FileBytes {
    header: Vec<u8>,
    rng: ChaCha20Rng,
    size: u64,
}

impl FileBytes {
    pub fn new(uri: &str, size: u64) -> FileBytes {
        let seed: [u8; 32] = Sha256::digest(uri.as_bytes()).into();
        let header = if uri.to_ascii_lowercase().ends_with(".fits") {
            fits_header(uri)
        } else {
            Vec::new()
        };
        FileBytes {
            header,
            rng: ChaCha20Rng::from_seed(seed),
            size,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes starting at `offset` (clipped to the file size).
    pub fn read(&mut self, offset: u64, len: usize) -> Vec<u8> {
        let end = (offset + len as u64).min(self.size);
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut done = 0usize;
        let h = self.header.len() as u64;
        if offset < h {
            let n = ((h - offset) as usize).min(out.len());
            out[..n].copy_from_slice(&self.header[offset as usize..offset as usize + n]);
            done = n;
        }
        if done < out.len() {
            let pos = offset + done as u64;
            self.rng.set_word_pos((pos / 4) as u128);
            let skip = (pos % 4) as usize;
            let mut buf = vec![0u8; out.len() - done + skip];
            self.rng.fill_bytes(&mut buf);
            out[done..].copy_from_slice(&buf[skip..]);
        }
        out
    }
}

fn card(key: &str, value: &str, comment: &str) -> String {
    let mut c = if key.is_empty() {
        value.to_string()
    } else {
        format!("{key:<8}= {value:>20} / {comment}")
    };
    c.truncate(80);
    format!("{c:<80}")
}

fn fits_header(uri: &str) -> Vec<u8> {
    let name: String = uri
        .rsplit('/')
        .next()
        .unwrap_or(uri)
        .chars()
        .filter(|c| *c != '\'')
        .take(60)
        .collect();
    let cards = [
        card("SIMPLE", "T", "conforms to FITS standard"),
        card("BITPIX", "8", "array data type"),
        card("NAXIS", "0", "number of array dimensions"),
        card("EXTEND", "T", "file may contain extensions"),
        format!("{:<80}", format!("FILENAME= '{name}'")),
        format!("{:<80}", "ORIGIN  = 'mastflow sandbox'"),
        format!("{:<80}", "TELESCOP= 'JWST    '"),
        format!(
            "{:<80}",
            "COMMENT deterministic sandbox bytes derived from the dataURI; not science data"
        ),
        format!("{:<80}", "END"),
    ];
    let mut h = cards.concat().into_bytes();
    h.resize(BLOCK, b' ');
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_whole() {
        let mut f = FileBytes::new("mast:JWST/product/x_cal.fits", 10_000);
        let whole = f.read(0, 10_000);
        assert_eq!(whole.len(), 10_000);
        assert!(whole.starts_with(b"SIMPLE  ="));
        assert_eq!(f.read(2878, 7), whole[2878..2885].to_vec());
        assert_eq!(f.read(5001, 1000), whole[5001..6001].to_vec());
        assert_eq!(f.read(9_999, 10), whole[9_999..].to_vec());
        let mut g = FileBytes::new("mast:JWST/product/x_cal.fits", 10_000);
        assert_eq!(g.read(0, 10_000), whole);
    }
}
