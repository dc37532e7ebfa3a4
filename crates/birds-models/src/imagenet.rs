//! The ImageNet-1k label space of the pretrained head.

/// ImageNet-1k class ids that are birds: 7–24 (cock … great grey owl), 80–100 (black grouse … black swan),
/// 127–146 (white stork … albatross).
pub const BIRD_ID_RANGES: [std::ops::RangeInclusive<i64>; 3] = [7..=24, 80..=100, 127..=146];

/// Whether an ImageNet-1k class id is a bird.
pub fn is_bird(class_id: i64) -> bool {
    BIRD_ID_RANGES.iter().any(|r| r.contains(&class_id))
}

/// Number of ImageNet-1k classes.
pub const NUM_CLASSES: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_ranges() {
        assert!(is_bird(7) && is_bird(24) && is_bird(97) && is_bird(146));
        assert!(!is_bird(6) && !is_bird(25) && !is_bird(101) && !is_bird(147) && !is_bird(999));
        let count: usize = BIRD_ID_RANGES.iter().map(|r| r.clone().count()).sum();
        assert_eq!(count, 59);
    }
}
