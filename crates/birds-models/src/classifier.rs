//! The interface every birds model offers to training, evaluation and Grad-CAM.

use tch::Tensor;

/// An image classifier split at its last feature map: `logits = classify(pool(feature_map(x)))`.
///
/// Grad-CAM differentiates the logits with respect to [`ImageClassifier::feature_map`]; feature extraction caches
/// [`ImageClassifier::embed`]; training uses [`ImageClassifier::logits`].
pub trait ImageClassifier: std::fmt::Debug + Send {
    /// The last convolutional feature map, `[N, C, h, w]`.
    fn feature_map(&self, xs: &Tensor, train: bool) -> Tensor;

    /// Logits from a pooled embedding `[N, C]` (dropout, then the classifier head).
    fn classify_embedding(&self, embedding: &Tensor, train: bool) -> Tensor;

    /// Number of output classes.
    fn num_classes(&self) -> i64;

    /// Channels of the feature map and embedding.
    fn feature_channels(&self) -> i64;

    /// Global average pool of a feature map: `[N, C, h, w]` → `[N, C]`.
    fn pool(&self, feature_map: &Tensor) -> Tensor {
        feature_map.mean_dim([-2i64, -1].as_slice(), false, feature_map.kind())
    }

    /// The pooled embedding of an input batch, `[N, C]`.
    fn embed(&self, xs: &Tensor, train: bool) -> Tensor {
        self.pool(&self.feature_map(xs, train))
    }

    /// Logits from a feature map (what Grad-CAM differentiates).
    fn logits_from_feature_map(&self, feature_map: &Tensor, train: bool) -> Tensor {
        self.classify_embedding(&self.pool(feature_map), train)
    }

    /// Logits of an input batch, `[N, num_classes]`.
    fn logits(&self, xs: &Tensor, train: bool) -> Tensor {
        self.logits_from_feature_map(&self.feature_map(xs, train), train)
    }
}
