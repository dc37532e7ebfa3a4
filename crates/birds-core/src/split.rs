//! Dataset splits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// One of the three dataset splits, named as in the Kaggle layout's folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training images.
    Train,
    /// Validation images (model selection, early stopping).
    Valid,
    /// Held-out test images.
    Test,
}

impl Split {
    /// All splits in their canonical order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// The folder / column spelling: `train`, `valid`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = CoreError;

    /// Accepts the folder names and Kaggle's `data set` column values (`train`, `valid`, `test`),
    /// case-insensitively, plus `validation`/`val`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Train),
            "valid" | "val" | "validation" => Ok(Split::Valid),
            "test" | "testing" => Ok(Split::Test),
            _ => Err(CoreError::Parse {
                what: "split",
                value: s.to_string(),
                expected: "train, valid, test",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_aliases() {
        for s in Split::ALL {
            assert_eq!(s.as_str().parse::<Split>().ok(), Some(s));
        }
        assert_eq!("Validation".parse::<Split>().ok(), Some(Split::Valid));
        assert!("holdout".parse::<Split>().is_err());
    }
}
