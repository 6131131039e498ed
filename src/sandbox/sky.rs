//! Sky geometry for the emulator: angular distances, STC-S `s_region`
//! parsing, footprint/cone intersection, and the HEALPix index that maps
//! cells to observation rows.
//!
//! Intersection is exact for polygons whose vertices lie within 90° of the
//! cone centre: the polygon is projected gnomonically about the centre, where
//! great-circle edges become straight lines and the cone becomes a disc of
//! radius `tan(r)`. Circles are compared by centre distance. Anything else
//! falls back to the footprint's bounding circle.

use std::f64::consts::PI;

const DEG: f64 = PI / 180.0;

/// HEALPix depth of the spatial index (nested scheme; cells of ~13.7′).
pub const INDEX_DEPTH: u8 = 8;

/// Queries wider than this scan every row instead of the index.
const FULL_SCAN_RADIUS_DEG: f64 = 20.0;

/// Angular distance in degrees (haversine), shared with the local cross-match.
pub use crate::table::xmatch::ang_dist_deg;

fn unit(ra: f64, dec: f64) -> [f64; 3] {
    let (r, d) = (ra * DEG, dec * DEG);
    [d.cos() * r.cos(), d.cos() * r.sin(), d.sin()]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// One shape of an STC-S region.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Vertices (ra, dec) in degrees, not repeated at the end.
    Polygon(Vec<(f64, f64)>),
    Circle {
        ra: f64,
        dec: f64,
        radius: f64,
    },
}

/// A parsed `s_region`: the union of its shapes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Region {
    pub shapes: Vec<Shape>,
}

impl Region {
    /// Parse `POLYGON [frame] ra dec ra dec …` and `CIRCLE [frame] ra dec r`,
    /// several shapes allowed; frame tokens (ICRS, GSC1, J2000…) are skipped.
    /// `None` when nothing usable is found.
    pub fn parse(s: &str) -> Option<Region> {
        let mut shapes = Vec::new();
        let mut kind: Option<&str> = None;
        let mut nums: Vec<f64> = Vec::new();
        for tok in s.split_whitespace() {
            if let Ok(x) = tok.parse::<f64>() {
                nums.push(x);
                continue;
            }
            let up = tok.to_ascii_uppercase();
            if up == "POLYGON" || up == "CIRCLE" {
                push_shape(kind, &nums, &mut shapes);
                nums.clear();
                kind = Some(if up == "POLYGON" { "POLYGON" } else { "CIRCLE" });
            }
        }
        push_shape(kind, &nums, &mut shapes);
        (!shapes.is_empty()).then_some(Region { shapes })
    }

    /// Largest distance (deg) from (`ra`, `dec`) to any part of the region.
    pub fn bounding_radius(&self, ra: f64, dec: f64) -> f64 {
        self.shapes
            .iter()
            .map(|s| match s {
                Shape::Polygon(v) => v
                    .iter()
                    .map(|&(a, d)| ang_dist_deg(ra, dec, a, d))
                    .fold(0.0, f64::max),
                Shape::Circle {
                    ra: a,
                    dec: d,
                    radius,
                } => ang_dist_deg(ra, dec, *a, *d) + radius,
            })
            .fold(0.0, f64::max)
    }

    /// Whether the region and the cone (`ra`, `dec`, `radius` deg) overlap.
    pub fn intersects_cone(&self, ra: f64, dec: f64, radius: f64) -> bool {
        self.shapes
            .iter()
            .any(|s| shape_intersects(s, ra, dec, radius))
    }
}

fn push_shape(kind: Option<&str>, nums: &[f64], shapes: &mut Vec<Shape>) {
    match kind {
        Some("POLYGON") if nums.len() >= 6 => {
            let mut v: Vec<(f64, f64)> = nums.chunks_exact(2).map(|c| (c[0], c[1])).collect();
            if v.len() > 3 && v.first() == v.last() {
                v.pop();
            }
            shapes.push(Shape::Polygon(v));
        }
        Some("CIRCLE") if nums.len() >= 3 => shapes.push(Shape::Circle {
            ra: nums[0],
            dec: nums[1],
            radius: nums[2],
        }),
        _ => {}
    }
}

fn shape_intersects(s: &Shape, ra: f64, dec: f64, radius: f64) -> bool {
    match s {
        Shape::Circle {
            ra: a,
            dec: d,
            radius: r,
        } => ang_dist_deg(ra, dec, *a, *d) <= radius + r,
        Shape::Polygon(v) => polygon_intersects(v, ra, dec, radius),
    }
}

fn polygon_intersects(v: &[(f64, f64)], ra: f64, dec: f64, radius: f64) -> bool {
    let c = unit(ra, dec);
    let (r, d) = (ra * DEG, dec * DEG);
    let east = [-r.sin(), r.cos(), 0.0];
    let north = [-d.sin() * r.cos(), -d.sin() * r.sin(), d.cos()];
    let mut pts = Vec::with_capacity(v.len());
    for &(a, b) in v {
        let p = unit(a, b);
        let w = dot(p, c);
        if w <= 1e-9 {
            // A vertex beyond 90°: use the bounding circle of the polygon.
            let (ca, cd) = v[0];
            let br = Region {
                shapes: vec![Shape::Polygon(v.to_vec())],
            }
            .bounding_radius(ca, cd);
            return ang_dist_deg(ra, dec, ca, cd) <= radius + br;
        }
        pts.push((dot(p, east) / w, dot(p, north) / w));
    }
    if radius >= 90.0 {
        return true;
    }
    point_in_polygon(&pts) || min_edge_distance(&pts) <= (radius * DEG).tan()
}

/// Ray casting test of the origin against a planar polygon.
fn point_in_polygon(pts: &[(f64, f64)]) -> bool {
    let mut inside = false;
    let n = pts.len();
    for i in 0..n {
        let (x1, y1) = pts[i];
        let (x2, y2) = pts[(i + 1) % n];
        if (y1 > 0.0) != (y2 > 0.0) {
            let x = x1 + (0.0 - y1) * (x2 - x1) / (y2 - y1);
            if x > 0.0 {
                inside = !inside;
            }
        }
    }
    inside
}

/// Smallest distance from the origin to the polygon's edges.
fn min_edge_distance(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len();
    (0..n)
        .map(|i| segment_distance(pts[i], pts[(i + 1) % n]))
        .fold(f64::INFINITY, f64::min)
}

fn segment_distance((x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> f64 {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (-(x1 * dx + y1 * dy) / len2).clamp(0.0, 1.0)
    };
    let (px, py) = (x1 + t * dx, y1 + t * dy);
    (px * px + py * py).sqrt()
}

/// HEALPix (nested, [`INDEX_DEPTH`]) index from cells to row numbers, in
/// compressed-sparse-row form. Each row is entered in every cell its
/// bounding circle touches.
#[derive(Debug, Clone, Default)]
pub struct SkyIndex {
    cells: Vec<u64>,
    offsets: Vec<u32>,
    rows: Vec<u32>,
}

impl SkyIndex {
    /// Build from (row, ra, dec, bounding radius) entries.
    pub fn build(entries: impl Iterator<Item = (u32, f64, f64, f64)>) -> SkyIndex {
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for (row, ra, dec, r) in entries {
            for cell in cover(ra, dec, r.max(1e-6)).iter() {
                pairs.push((*cell, row));
            }
        }
        pairs.sort_unstable();
        let mut idx = SkyIndex::default();
        for (cell, row) in pairs {
            if idx.cells.last() != Some(&cell) {
                idx.cells.push(cell);
                idx.offsets.push(idx.rows.len() as u32);
            }
            idx.rows.push(row);
        }
        idx.offsets.push(idx.rows.len() as u32);
        idx
    }

    /// Candidate rows (sorted, unique) whose footprint may meet the cone, or
    /// `None` when the cone is so wide that a full scan is cheaper.
    pub fn candidates(&self, ra: f64, dec: f64, radius: f64) -> Option<Vec<u32>> {
        if radius >= FULL_SCAN_RADIUS_DEG {
            return None;
        }
        let mut out = Vec::new();
        for cell in cover(ra, dec, radius.max(1e-6)).iter() {
            if let Ok(i) = self.cells.binary_search(cell) {
                let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
                out.extend_from_slice(&self.rows[a..b]);
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    pub fn entries(&self) -> usize {
        self.rows.len()
    }
}

fn cover(ra: f64, dec: f64, radius_deg: f64) -> Box<[u64]> {
    let lon = ra.rem_euclid(360.0) * DEG;
    let lat = dec.clamp(-90.0, 90.0) * DEG;
    let r = (radius_deg * DEG).min(PI - 1e-9);
    cdshealpix::nested::cone_coverage_approx_flat(INDEX_DEPTH, lon, lat, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_parse() {
        assert!((ang_dist_deg(10.0, 0.0, 11.0, 0.0) - 1.0).abs() < 1e-9);
        let r = Region::parse("POLYGON ICRS 10 10 10.1 10 10.1 10.1 10 10.1").unwrap();
        assert_eq!(r.shapes.len(), 1);
        let c = Region::parse("CIRCLE ICRS 10 10 0.01").unwrap();
        assert!(matches!(c.shapes[0], Shape::Circle { .. }));
        assert!(Region::parse("nonsense").is_none());
    }

    #[test]
    fn polygon_cone_intersection() {
        let r = Region::parse("POLYGON 10 10 10.1 10 10.1 10.1 10 10.1").unwrap();
        assert!(r.intersects_cone(10.05, 10.05, 0.001)); // centre inside
        assert!(r.intersects_cone(10.2, 10.05, 0.12)); // edge within reach
        assert!(!r.intersects_cone(10.2, 10.05, 0.05));
        assert!(r.intersects_cone(200.0, -30.0, 179.0));
    }

    #[test]
    fn index_finds_neighbours() {
        let idx = SkyIndex::build(
            [
                (0u32, 10.0, 10.0, 0.05),
                (1, 10.3, 10.0, 0.05),
                (2, 200.0, -45.0, 0.05),
            ]
            .into_iter(),
        );
        let c = idx.candidates(10.0, 10.0, 0.01).unwrap();
        assert!(c.contains(&0) && !c.contains(&2));
        assert!(idx.candidates(0.0, 0.0, 45.0).is_none());
    }
}
