//! Numbers that say whether a map is right: statistics of a map, localisation against a ground-truth mask, and
//! the deletion (faithfulness) test's pixel selections.
//!
//! | check | definition | chance level |
//! |---|---|---|
//! | energy in mask | `Σ_{p ∈ mask} m(p) / Σ_p m(p)` for the normalised map `m` | the mask's area fraction |
//! | pointing game | the map's peak pixel lies inside the mask | the mask's area fraction |
//! | deletion | confidence drop after blurring the top-`f` map pixels, vs `f` random pixels | (the random drop) |

use crate::render::Heatmap;

/// Summary statistics of one normalised map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapStats {
    /// Peak column (first maximum), in the map's pixels.
    pub peak_x: u32,
    /// Peak row.
    pub peak_y: u32,
    /// Mean value (0–1): how much of the image the map covers.
    pub mean: f64,
    /// Share of the total energy in the top 20 % of pixels (0.2 for a flat map, towards 1 for a point).
    pub top20_share: f64,
    /// Shannon entropy of the map as a distribution over pixels, divided by `ln(pixels)` (1 = flat).
    pub entropy: f64,
}

/// Statistics of `map`.
pub fn map_stats(map: &Heatmap) -> MapStats {
    let (peak_x, peak_y) = map.peak();
    let n = map.values.len().max(1);
    let total: f64 = map.values.iter().map(|&v| f64::from(v.max(0.0))).sum();
    let mean = total / n as f64;
    let mut sorted: Vec<f32> = map.values.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = top_count(n, 0.2);
    let top: f64 = sorted[..k].iter().map(|&v| f64::from(v.max(0.0))).sum();
    let top20_share = if total > 0.0 { top / total } else { 0.0 };
    let entropy = if total > 0.0 && n > 1 {
        let h: f64 = map
            .values
            .iter()
            .map(|&v| f64::from(v.max(0.0)) / total)
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.ln())
            .sum();
        h / (n as f64).ln()
    } else {
        0.0
    };
    MapStats {
        peak_x,
        peak_y,
        mean,
        top20_share,
        entropy,
    }
}

/// Number of pixels in the top `fraction` of `n` (at least 1, at most `n`).
pub fn top_count(n: usize, fraction: f64) -> usize {
    ((n as f64 * fraction).round() as usize).clamp(1, n.max(1))
}

/// Localisation of one map against a mask of the same size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Localisation {
    /// Fraction of the map's energy inside the mask (0–1); `None` for an all-zero map.
    pub energy_in_mask: Option<f64>,
    /// Fraction of the image the mask covers (the chance level of both checks).
    pub mask_area: f64,
    /// Whether the map's peak lies inside the mask.
    pub pointing_hit: bool,
}

/// Energy inside `mask` and the pointing game for `map` (`mask` row-major, the map's size).
pub fn localisation(map: &Heatmap, mask: &[bool]) -> Option<Localisation> {
    if mask.len() != map.values.len() || mask.is_empty() {
        return None;
    }
    let mut inside = 0.0;
    let mut total = 0.0;
    for (&v, &m) in map.values.iter().zip(mask) {
        let v = f64::from(v.max(0.0));
        total += v;
        if m {
            inside += v;
        }
    }
    let area = mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64;
    let (px, py) = map.peak();
    Some(Localisation {
        energy_in_mask: (total > 0.0).then(|| inside / total),
        mask_area: area,
        pointing_hit: mask[(py * map.width + px) as usize],
    })
}

/// The `fraction` of pixels with the highest values (ties broken by position, so the selection is
/// deterministic), as a row-major mask.
pub fn top_pixels(values: &[f32], fraction: f64) -> Vec<bool> {
    let k = top_count(values.len(), fraction);
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut mask = vec![false; values.len()];
    for &i in &order[..k.min(order.len())] {
        mask[i] = true;
    }
    mask
}

pub use birds_core::rng::SplitMix64;

/// `fraction` of `n` pixels chosen uniformly at random (a partial Fisher–Yates shuffle seeded by `seed`).
pub fn random_pixels(n: usize, fraction: f64, seed: u64) -> Vec<bool> {
    let k = top_count(n, fraction);
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        order.swap(i, j);
    }
    let mut mask = vec![false; n];
    for &i in &order[..k.min(n)] {
        mask[i] = true;
    }
    mask
}

/// Pools per-image localisation into the figures the stage reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LocalisationSummary {
    /// Maps counted.
    pub images: usize,
    /// Mean fraction of map energy inside the mask.
    pub energy_in_mask: f64,
    /// Mean mask area fraction (chance level).
    pub mask_area: f64,
    /// Fraction of maps whose peak is inside the mask.
    pub pointing_game: f64,
    /// Fraction of maps with more energy inside the mask than its area fraction.
    pub above_chance: f64,
}

/// Mean figures over `items` (maps with an all-zero energy are left out of the energy mean but count as misses).
pub fn summarise_localisation(items: &[Localisation]) -> LocalisationSummary {
    if items.is_empty() {
        return LocalisationSummary::default();
    }
    let n = items.len() as f64;
    let energies: Vec<f64> = items.iter().filter_map(|l| l.energy_in_mask).collect();
    LocalisationSummary {
        images: items.len(),
        energy_in_mask: if energies.is_empty() {
            0.0
        } else {
            energies.iter().sum::<f64>() / energies.len() as f64
        },
        mask_area: items.iter().map(|l| l.mask_area).sum::<f64>() / n,
        pointing_game: items.iter().filter(|l| l.pointing_hit).count() as f64 / n,
        above_chance: items
            .iter()
            .filter(|l| l.energy_in_mask.is_some_and(|e| e > l.mask_area))
            .count() as f64
            / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(values: Vec<f32>, width: u32) -> Heatmap {
        let height = values.len() as u32 / width;
        Heatmap {
            width,
            height,
            values,
        }
    }

    #[test]
    fn stats_of_flat_and_peaked_maps() {
        let flat = map_stats(&map(vec![0.5; 100], 10));
        assert!((flat.entropy - 1.0).abs() < 1e-9 && (flat.top20_share - 0.2).abs() < 1e-9);
        let mut v = vec![0.0; 100];
        v[37] = 1.0;
        let point = map_stats(&map(v, 10));
        assert_eq!((point.peak_x, point.peak_y), (7, 3));
        assert!(point.entropy.abs() < 1e-9 && (point.top20_share - 1.0).abs() < 1e-9);
        assert!((point.mean - 0.01).abs() < 1e-9);
    }

    #[test]
    fn localisation_counts_energy_and_peak() {
        // 4×1 map: energy 1, 3 outside/inside.
        let m = map(vec![1.0, 3.0, 0.0, 0.0], 4);
        let mask = vec![false, true, true, false];
        let l = localisation(&m, &mask).unwrap_or(Localisation {
            energy_in_mask: None,
            mask_area: 0.0,
            pointing_hit: false,
        });
        assert_eq!(l.energy_in_mask, Some(0.75));
        assert_eq!(l.mask_area, 0.5);
        assert!(l.pointing_hit);
        assert!(localisation(&m, &[true]).is_none());
        let zero = localisation(&map(vec![0.0; 4], 4), &mask).map(|l| l.energy_in_mask);
        assert_eq!(zero, Some(None));
        let s = summarise_localisation(&[
            l,
            localisation(&map(vec![5.0, 0.0, 0.0, 0.0], 4), &mask).unwrap_or(l),
        ]);
        assert_eq!(s.images, 2);
        assert!((s.energy_in_mask - 0.375).abs() < 1e-12);
        assert!((s.pointing_game - 0.5).abs() < 1e-12);
        assert!((s.above_chance - 0.5).abs() < 1e-12);
    }

    #[test]
    fn top_and_random_pixel_selections() {
        let v = [0.1, 0.9, 0.5, 0.9, 0.0];
        assert_eq!(top_pixels(&v, 0.4), vec![false, true, false, true, false]);
        let r = random_pixels(1000, 0.2, 7);
        assert_eq!(r.iter().filter(|&&b| b).count(), 200);
        assert_eq!(r, random_pixels(1000, 0.2, 7), "deterministic");
        assert_ne!(r, random_pixels(1000, 0.2, 8), "seeded");
        // Spread over the image, not a block: both halves get some.
        let first = r[..500].iter().filter(|&&b| b).count();
        assert!((60..140).contains(&first), "{first}");
    }
}
