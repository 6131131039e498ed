//! The emulated archive: CAOM observations in a columnar [`Table`] with a
//! HEALPix index, SI-keyword tables per instrument, and the lookups that
//! generate product lists and resolve download URIs.
//!
//! It is built from the bundled real rows (`real`), plus `scale` synthetic
//! observations (`synth`, seeded), or from a `--data DIR` (`dir`). Building is
//! deterministic: the same inputs give the same archive, row for row.

pub mod caom;
pub mod catalog;
pub mod dir;
pub mod products;
pub mod real;
pub mod schema;
pub mod sikw;
pub mod synth;

use super::sky::{Region, SkyIndex};
use crate::table::Table;
use caom::ObsRow;
use catalog::Kind;
use products::{Exposure, Lister, ProductRow};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// FNV-1a, a fast non-cryptographic hash for the in-memory indexes.
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A member exposure of a level-3 observation.
#[derive(Debug, Clone, Copy)]
enum Member {
    Row(u32),
    Virtual(u32),
}

/// The whole emulated archive (read-only once built).
pub struct Archive {
    pub obs: Table,
    pub sky: SkyIndex,
    pub sikw: BTreeMap<String, sikw::SiTable>,
    pub seed: u64,
    pub synthetic_rows: usize,
    by_obsid: HashMap<i64, u32>,
    by_obs_id: HashMap<u64, Vec<u32>>,
    by_group: HashMap<u64, Vec<u32>>,
    members: HashMap<String, Vec<Member>>,
    virtual_members: Vec<Exposure>,
    real_products: HashMap<String, Vec<ProductRow>>,
    real_uris: HashMap<String, (i64, String)>,
    known_sizes: HashMap<String, i64>,
    /// The missions-API tables, built on first use (`missions::Missions`).
    missions: std::sync::OnceLock<super::missions::Missions>,
}

/// What a download URI resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    pub rights: String,
}

impl Archive {
    /// The bundled real rows plus `scale` synthetic observations.
    pub fn bundled(scale: usize, seed: u64) -> Archive {
        let real = real::load();
        let synth = synth::generate(scale, seed, &real.programs);
        let si = sikw::build(&real::sikw_niriss(), &synth);
        let n_synth = synth.len();
        let mut rows = real.observations;
        rows.extend(synth);
        let parts = Parts {
            rows,
            products: real.products,
            virtual_members: real.virtual_members,
            known_sizes: real.known_sizes,
            sikw: si,
        };
        Archive::from_parts(parts, seed, n_synth)
    }

    /// An archive read from a directory (see `docs/sandbox.md`).
    pub fn from_dir(path: &Path, seed: u64) -> Result<Archive, String> {
        let parts = dir::load(path)?;
        Ok(Archive::from_parts(parts, seed, 0))
    }

    fn from_parts(p: Parts, seed: u64, synthetic_rows: usize) -> Archive {
        // The sky index (parsing every footprint) builds on a second core
        // while the table is filled.
        let (sky, obs) = std::thread::scope(|s| {
            let sky = s.spawn(|| build_sky(&p.rows));
            let mut b = caom::ObsBuilder::new(p.rows.len());
            for r in &p.rows {
                b.push(r);
            }
            (sky.join().unwrap_or_default(), b.finish())
        });
        let mut a = Archive {
            sky,
            obs,
            sikw: p.sikw,
            seed,
            synthetic_rows,
            by_obsid: HashMap::with_capacity(p.rows.len()),
            by_obs_id: HashMap::with_capacity(p.rows.len()),
            by_group: HashMap::new(),
            members: HashMap::new(),
            virtual_members: Vec::new(),
            real_products: HashMap::new(),
            real_uris: HashMap::new(),
            known_sizes: p.known_sizes,
            missions: std::sync::OnceLock::new(),
        };
        a.index_rows(&p.rows);
        a.add_virtual(p.virtual_members);
        a.add_real_products(p.products);
        a
    }

    fn index_rows(&mut self, rows: &[ObsRow]) {
        for (i, r) in rows.iter().enumerate() {
            let i = i as u32;
            self.by_obsid.insert(r.obsid, i);
            self.by_obs_id
                .entry(fnv(&r.obs_id.to_ascii_lowercase()))
                .or_default()
                .push(i);
            if let Some((p, o)) = products::program_obsnum(&r.obs_id) {
                self.by_group
                    .entry(fnv(&format!("{p}{o}")))
                    .or_default()
                    .push(i);
                if r.calib_level >= 3 {
                    self.by_group
                        .entry(fnv(&format!("{p}pool")))
                        .or_default()
                        .push(i);
                }
            }
            if r.calib_level == 2 {
                if let Some(k) = products::member_key(&r.obs_id, r.filters.as_deref()) {
                    self.members.entry(k).or_default().push(Member::Row(i));
                }
            }
        }
    }

    fn add_virtual(&mut self, list: Vec<(String, Exposure)>) {
        for (key, e) in list {
            let idx = self.virtual_members.len() as u32;
            self.members
                .entry(key)
                .or_default()
                .push(Member::Virtual(idx));
            self.virtual_members.push(e);
        }
    }

    fn add_real_products(&mut self, list: Vec<ProductRow>) {
        for p in list {
            self.known_sizes.insert(p.productFilename.clone(), p.size);
            self.real_uris
                .insert(p.dataURI.clone(), (p.size, p.dataRights.clone()));
            self.real_products
                .entry(p.parent_obsid.clone())
                .or_default()
                .push(p);
        }
    }

    pub fn num_observations(&self) -> usize {
        self.obs.num_rows()
    }

    /// The missions search API's tables (built on the first call: blocking).
    pub fn missions(&self) -> &super::missions::Missions {
        self.missions
            .get_or_init(|| super::missions::Missions::build(self))
    }

    /// The missions tables if a request already built them.
    pub fn missions_if_built(&self) -> Option<&super::missions::Missions> {
        self.missions.get()
    }

    /// Member exposures that have no CAOM row of their own (bundled chains).
    pub fn virtual_exposures(&self) -> &[Exposure] {
        &self.virtual_members
    }

    /// The recorded size of a file, when a real row gives it.
    pub fn known_size(&self, filename: &str) -> Option<i64> {
        self.known_sizes.get(filename).copied()
    }

    /// Row of the observation with this `obsid`.
    pub fn row_of_obsid(&self, obsid: i64) -> Option<usize> {
        self.by_obsid.get(&obsid).map(|&r| r as usize)
    }

    /// `s_ra`, `s_dec` of row `i` (NaN when null).
    pub fn position(&self, i: usize) -> (f64, f64) {
        (float_at(&self.obs, 10, i), float_at(&self.obs, 11, i))
    }

    /// The parsed footprint of row `i`.
    pub fn region(&self, i: usize) -> Option<Region> {
        self.obs.get(i, 25).as_str().and_then(Region::parse)
    }

    /// Product rows of one observation, as `Mast.Caom.Products` lists them.
    pub fn products(&self, obsid: i64) -> Vec<ProductRow> {
        let key = obsid.to_string();
        let real = self.real_products.get(&key).cloned().unwrap_or_default();
        let Some(row) = self.row_of_obsid(obsid) else {
            return real;
        };
        let o = caom::row_of(&self.obs, row);
        if o.calib_level < 0 {
            return real;
        }
        let sizes = |name: &str| self.known_sizes.get(name).copied();
        let mut l = Lister {
            parent_obsid: obsid,
            known_size: &sizes,
            out: Vec::new(),
        };
        let e = exposure_of(&o);
        if o.obs_collection != "JWST" {
            l.hst(&e, o.calib_level);
        } else if o.calib_level >= 3 {
            l.level3(&e);
            for (i, m) in self.members_of(&o).iter().enumerate() {
                l.exposure(m, i);
            }
        } else {
            l.exposure(&e, 0);
        }
        let seen: std::collections::HashSet<&str> =
            real.iter().map(|p| p.dataURI.as_str()).collect();
        let generated: Vec<ProductRow> = l
            .out
            .into_iter()
            .filter(|p| !seen.contains(p.dataURI.as_str()))
            .collect();
        let mut out = real;
        out.extend(generated);
        out
    }

    fn members_of(&self, o: &ObsRow) -> Vec<Exposure> {
        let Some(key) = products::member_key(&o.obs_id, o.filters.as_deref()) else {
            return Vec::new();
        };
        let Some(list) = self.members.get(&key) else {
            return Vec::new();
        };
        list.iter()
            .map(|m| match *m {
                Member::Row(r) => exposure_of(&caom::row_of(&self.obs, r as usize)),
                Member::Virtual(v) => self.virtual_members[v as usize].clone(),
            })
            .collect()
    }

    /// Size and data rights of the file a dataURI names, if it exists.
    pub fn resolve_uri(&self, uri: &str) -> Option<FileInfo> {
        if let Some((size, rights)) = self.real_uris.get(uri) {
            return Some(FileInfo {
                size: *size as u64,
                rights: rights.clone(),
            });
        }
        let name = uri.rsplit('/').next()?;
        self.candidate_rows(name)
            .into_iter()
            .find_map(|r| self.find_in_products(r, uri))
    }

    fn find_in_products(&self, row: u32, uri: &str) -> Option<FileInfo> {
        let obsid = match self.obs.get(row as usize, 31) {
            crate::table::ValueRef::Int(x) => x,
            _ => return None,
        };
        let p = self
            .products(obsid)
            .into_iter()
            .find(|p| p.dataURI == uri)?;
        Some(FileInfo {
            size: p.size.max(0) as u64,
            rights: p.dataRights,
        })
    }

    /// Observations whose product list may hold `filename`: the obs_id
    /// prefixes of the name first, then the observation group.
    fn candidate_rows(&self, filename: &str) -> Vec<u32> {
        let lower = filename.to_ascii_lowercase();
        let mut out = Vec::new();
        for (i, _) in lower.match_indices('_') {
            if let Some(rows) = self.by_obs_id.get(&fnv(&lower[..i])) {
                out.extend(rows.iter().copied());
            }
        }
        let group = products::program_obsnum(&lower)
            .map(|(p, o)| format!("{p}{o}"))
            .or_else(|| {
                lower
                    .get(2..7)
                    .filter(|_| lower.ends_with("_pool.csv"))
                    .map(|p| format!("{p}pool"))
            });
        if let Some(rows) = group.and_then(|g| self.by_group.get(&fnv(&g))) {
            let mut rows = rows.clone();
            rows.sort_by_key(|&r| std::cmp::Reverse(matches!(self.obs.get(r as usize, 14), crate::table::ValueRef::Int(x) if x >= 3)));
            out.extend(rows);
        }
        out.dedup();
        out
    }
}

/// Inputs of [`Archive::from_parts`].
pub struct Parts {
    pub rows: Vec<ObsRow>,
    pub products: Vec<ProductRow>,
    pub virtual_members: Vec<(String, Exposure)>,
    pub known_sizes: HashMap<String, i64>,
    pub sikw: BTreeMap<String, sikw::SiTable>,
}

fn float_at(t: &Table, col: usize, i: usize) -> f64 {
    t.get(i, col).as_f64().unwrap_or(f64::NAN)
}

fn build_sky(rows: &[ObsRow]) -> SkyIndex {
    let entries = rows.iter().enumerate().filter_map(|(i, r)| {
        let (ra, dec) = (r.s_ra?, r.s_dec?);
        if !ra.is_finite() || !dec.is_finite() {
            return None;
        }
        let bound = r
            .s_region
            .as_deref()
            .and_then(Region::parse)
            .map_or(0.0, |g| g.bounding_radius(ra, dec));
        Some((i as u32, ra, dec, bound))
    });
    SkyIndex::build(entries)
}

/// The generator's view of an observation row.
pub fn exposure_of(o: &ObsRow) -> Exposure {
    let kind =
        sikw::mode_of(&o.instrument_name, o.filters.as_deref()).map_or(Kind::Imaging, |m| m.kind);
    Exposure {
        obs_id: o.obs_id.clone(),
        obsid: o.obsid,
        kind,
        dataproduct_type: o.dataproduct_type.clone(),
        proposal_id: o.proposal_id.clone(),
        rights: o.dataRights.clone(),
        t_min: o.t_min.unwrap_or(59900.0),
        collection: o.obs_collection.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_chains_are_consistent() {
        let a = Archive::bundled(300, 1);
        // SI chain: a level-3 observation lists the real rows and generated members.
        let p = a.products(118370229);
        assert!(
            p.iter()
                .any(|r| r.productFilename == "jw01091-o002_20240112t191830_tso3_00002_asn.json")
        );
        assert!(
            p.iter()
                .any(|r| r.productFilename.ends_with("_calints.fits"))
        );
        // 1073: the 15 level-3 rows list the 450 real UNCAL files between them.
        let uncal: std::collections::HashSet<String> = [
            83254329i64,
            83254330,
            76622656,
            76622650,
            83254500,
            83254519,
            75900624,
            83254380,
            118344942,
            75914186,
            83254391,
            75884422,
            83254838,
            83254839,
            83254840,
        ]
        .iter()
        .flat_map(|&o| a.products(o))
        .filter(|p| {
            p.productSubGroupDescription.as_deref() == Some("UNCAL")
                && !p.productFilename.contains("_gs-")
        })
        .map(|p| p.productFilename)
        .collect();
        assert_eq!(uncal.len(), 450);
        // Download resolution finds a member file through its group.
        let f = a
            .resolve_uri("mast:JWST/product/jw01073001001_02101_00001_nrca1_uncal.fits")
            .unwrap();
        assert!(f.size > 0);
        assert!(a.resolve_uri("mast:JWST/product/nope_uncal.fits").is_none());
    }
}
