//! Class activation maps on tensors: the gradients of a target score with respect to a layer's activations, and
//! the three maps built from them. No files, no drawing.
//!
//! For image `n`, target class `c` and layer activations `A` (`[C, h, w]`), with `S = logit_c` (the raw score before
//! the softmax, as in pytorch-grad-cam) and `G = ∂S/∂A`:
//!
//! | method | channel weight `w_k` | map |
//! |---|---|---|
//! | Grad-CAM (Selvaraju et al. 2017) | `mean_ij G_kij` | `ReLU(Σ_k w_k A_k)` |
//! | Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19) | `Σ_ij ReLU(G_kij) α_kij`, `α = G² / (2G² + (Σ_ab A_kab) G³ + 1e-6)`, `α = 0` where `G = 0` | `ReLU(Σ_k w_k A_k)` |
//! | HiResCAM (Draelos & Carin 2020) | none (element-wise) | `ReLU(Σ_k G_k ⊙ A_k)` |
//!
//! Grad-CAM++'s second and third derivatives are written with first-order gradients under the paper's assumption
//! that the score is passed through `exp` and the network is piecewise linear (ReLU), exactly as pytorch-grad-cam
//! computes them; the constant factor `exp(S)` is left out (it scales a map, which normalisation removes).
//!
//! [`gradients`] runs a whole batch with **one target per image** and **one backward pass**: the target layer's
//! activations are computed without a graph, detached, marked as requiring gradients, and only the part of the
//! network after the layer is differentiated (`Tensor::run_backward` with the activations as the only input, so
//! nothing accumulates in the model's parameters and the graph is freed when the call returns). Since the images
//! of a batch do not interact in evaluation mode, the gradient of `Σ_n S_n` with respect to image `n`'s
//! activations is that of `S_n` alone (`tests/batching.rs` checks it).

use birds_models::ImageClassifier;
use tch::{Kind, Tensor};

use crate::{ExplainError, Result};

/// Added to Grad-CAM++'s denominator (pytorch-grad-cam's value).
pub const GRAD_CAM_PP_EPS: f64 = 1e-6;
/// Added to the max in min-max normalisation (pytorch-grad-cam's value).
pub const NORMALIZE_EPS: f64 = 1e-7;

pub use birds_params::explain::CamMethod;

/// Grad-CAM channel weights: the spatial mean of the gradients, `[N, C, h, w]` → `[N, C]`.
pub fn grad_cam_weights(gradients: &Tensor) -> Tensor {
    gradients.mean_dim([2i64, 3].as_slice(), false, gradients.kind())
}

/// Grad-CAM++ channel weights (eq. 19 of Chattopadhyay et al., pytorch-grad-cam's form), `[N, C]`.
pub fn grad_cam_pp_weights(activations: &Tensor, gradients: &Tensor) -> Tensor {
    let kind = gradients.kind();
    let g2 = gradients.square();
    let g3 = &g2 * gradients;
    let sum_a = activations.sum_dim_intlist([2i64, 3].as_slice(), true, kind);
    let denom = &g2 * 2.0 + sum_a * &g3 + GRAD_CAM_PP_EPS;
    let nonzero = gradients.ne(0.0).to_kind(kind);
    let alpha = g2 / denom * nonzero;
    (gradients.relu() * alpha).sum_dim_intlist([2i64, 3].as_slice(), false, kind)
}

/// The channel weights of `method` (`[N, C]`), or `None` for HiResCAM, which has none.
pub fn channel_weights(
    method: CamMethod,
    activations: &Tensor,
    gradients: &Tensor,
) -> Option<Tensor> {
    match method {
        CamMethod::GradCam => Some(grad_cam_weights(gradients)),
        CamMethod::GradCamPlusPlus => Some(grad_cam_pp_weights(activations, gradients)),
        CamMethod::HiResCam => None,
    }
}

/// `ReLU(Σ_k w_k A_k)`: `[N, C]` weights and `[N, C, h, w]` activations → `[N, h, w]`.
pub fn weighted_sum(weights: &Tensor, activations: &Tensor) -> Tensor {
    let kind = activations.kind();
    (activations * weights.unsqueeze(-1).unsqueeze(-1))
        .sum_dim_intlist([1i64].as_slice(), false, kind)
        .relu()
}

/// The raw (un-normalised) map of `method` at the layer's resolution, `[N, h, w]`, non-negative.
pub fn cam(method: CamMethod, activations: &Tensor, gradients: &Tensor) -> Tensor {
    match channel_weights(method, activations, gradients) {
        Some(w) => weighted_sum(&w, activations),
        None => (gradients * activations)
            .sum_dim_intlist([1i64].as_slice(), false, activations.kind())
            .relu(),
    }
}

/// Min-max normalisation of each map to [0, 1] (pytorch-grad-cam's `scale_cam_image`): `[N, h, w]` → `[N, h, w]`.
/// An all-zero map stays all zero.
pub fn normalize(maps: &Tensor) -> Tensor {
    let n = maps.size()[0];
    let flat = maps.reshape([n, -1]);
    let min = flat.amin([1i64].as_slice(), true);
    let shifted = &flat - &min;
    let max = shifted.amax([1i64].as_slice(), true);
    (shifted / (max + NORMALIZE_EPS)).reshape(maps.size())
}

/// Bilinear upsampling (half-pixel centres, like OpenCV's `resize` and `align_corners=False`): `[N, h, w]` →
/// `[N, height, width]`.
pub fn upsample(maps: &Tensor, height: i64, width: i64) -> Tensor {
    maps.unsqueeze(1)
        .upsample_bilinear2d([height, width].as_slice(), false, None, None)
        .squeeze_dim(1)
}

/// Where a network is split for a CAM: the layer whose activations are explained, and the rest of the network.
pub trait CamLayer {
    /// The layer's name as recorded in artifacts (`features` for the last feature map, `blocks.11`, …).
    fn layer_name(&self) -> String;

    /// Activations of the layer for an input batch, `[N, C, h, w]`, in evaluation mode.
    fn activations(&self, xs: &Tensor) -> Result<Tensor>;

    /// Logits `[N, K]` from the layer's activations, in evaluation mode (differentiated by [`gradients`]).
    fn logits_from_activations(&self, activations: &Tensor) -> Result<Tensor>;
}

/// The default target layer: the classifier's last feature map (`[N, 1280, 7, 7]` for Lite0 at 224).
#[derive(Debug, Clone, Copy)]
pub struct LastFeatureMap<'a>(pub &'a dyn ImageClassifier);

impl CamLayer for LastFeatureMap<'_> {
    fn layer_name(&self) -> String {
        "features".into()
    }

    fn activations(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.0.feature_map(xs, false))
    }

    fn logits_from_activations(&self, activations: &Tensor) -> Result<Tensor> {
        Ok(self.0.logits_from_feature_map(activations, false))
    }
}

/// Which class a map explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The model's top-1 class for the image.
    Predicted,
    /// A given class index (the true class, or any other).
    Class(i64),
}

/// One map to compute: an image of the batch and the class to explain for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Row of the input batch.
    pub image: usize,
    /// The class to explain.
    pub target: Target,
}

impl Request {
    /// `Target::Predicted` for every image of a batch of `n`.
    pub fn predicted(n: usize) -> Vec<Request> {
        (0..n)
            .map(|image| Request {
                image,
                target: Target::Predicted,
            })
            .collect()
    }

    /// One given class per image.
    pub fn classes(classes: &[i64]) -> Vec<Request> {
        classes
            .iter()
            .enumerate()
            .map(|(image, &c)| Request {
                image,
                target: Target::Class(c),
            })
            .collect()
    }
}

/// Activations and gradients for a list of [`Request`]s; row `m` belongs to `requests[m]`. Nothing in it requires
/// gradients or holds a graph.
#[derive(Debug)]
pub struct Gradients {
    /// Input row of each request.
    pub image: Vec<usize>,
    /// The explained class of each request (predicted targets resolved).
    pub class: Vec<i64>,
    /// The top-1 class of each request's image.
    pub predicted: Vec<i64>,
    /// Logits of each request's image, `[M, K]`.
    pub logits: Tensor,
    /// The layer's activations, `[M, C, h, w]`.
    pub activations: Tensor,
    /// `∂ logit_class / ∂ activations`, `[M, C, h, w]`.
    pub gradients: Tensor,
}

impl Gradients {
    /// The raw map of `method`, `[M, h, w]`.
    pub fn cam(&self, method: CamMethod) -> Tensor {
        cam(method, &self.activations, &self.gradients)
    }

    /// The channel weights of `method`, `[M, C]` (none for HiResCAM).
    pub fn weights(&self, method: CamMethod) -> Option<Tensor> {
        channel_weights(method, &self.activations, &self.gradients)
    }

    /// Softmax probabilities, `[M, K]`.
    pub fn probabilities(&self) -> Tensor {
        self.logits.softmax(-1, Kind::Float)
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.image.len()
    }

    /// Whether there are no requests.
    pub fn is_empty(&self) -> bool {
        self.image.is_empty()
    }
}

fn tensor_to_i64(t: &Tensor) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(t.to_kind(Kind::Int64).flatten(0, -1))?)
}

/// Runs `xs` (`[N, 3, H, W]`) through `layer` and differentiates, for every request at once, the target logit with
/// respect to the layer's activations: one forward of the layer, one forward of the rest on the requested rows,
/// one backward of the sum of the selected logits.
///
/// An image may appear in several requests (e.g. its predicted and its true class). Errors: a request's image is
/// not in the batch, or a class is outside `0..K`.
pub fn gradients(layer: &dyn CamLayer, xs: &Tensor, requests: &[Request]) -> Result<Gradients> {
    let size = xs.size();
    if size.len() != 4 {
        return Err(ExplainError::Invalid(format!(
            "input batch has shape {size:?}: expected [N, C, H, W]"
        )));
    }
    let n = size[0];
    if let Some(r) = requests.iter().find(|r| r.image as i64 >= n) {
        return Err(ExplainError::Invalid(format!(
            "request for image {} of a batch of {n}",
            r.image
        )));
    }
    if requests.is_empty() {
        return Err(ExplainError::Invalid("no CAM requests".into()));
    }
    let acts = tch::no_grad(|| layer.activations(xs))?;
    let rows: Vec<i64> = requests.iter().map(|r| r.image as i64).collect();
    let identity = rows.len() as i64 == n && rows.iter().enumerate().all(|(i, &r)| i as i64 == r);
    let selected = if identity {
        acts
    } else {
        acts.index_select(0, &Tensor::from_slice(&rows).to_device(acts.device()))
    };
    let leaf = selected.detach().set_requires_grad(true);
    let (class, predicted, logits, grads) = tch::with_grad(|| -> Result<_> {
        let logits = layer.logits_from_activations(&leaf)?;
        let k = *logits.size().last().unwrap_or(&0);
        let predicted = tensor_to_i64(&logits.detach().argmax(-1, false))?;
        let mut class = Vec::with_capacity(requests.len());
        for (r, &p) in requests.iter().zip(&predicted) {
            let c = match r.target {
                Target::Predicted => p,
                Target::Class(c) if (0..k).contains(&c) => c,
                Target::Class(c) => {
                    return Err(ExplainError::Invalid(format!(
                        "target class {c} is outside the model's {k} classes"
                    )));
                }
            };
            class.push(c);
        }
        let index = Tensor::from_slice(&class)
            .to_device(logits.device())
            .view([-1, 1]);
        let score = logits.gather(1, &index, false).sum(logits.kind());
        let mut grads = Tensor::run_backward(&[&score], &[&leaf], false, false);
        let grads = grads.pop().ok_or_else(|| {
            ExplainError::Invalid("autograd returned no gradient for the activations".into())
        })?;
        Ok((class, predicted, logits.detach(), grads))
    })?;
    Ok(Gradients {
        image: requests.iter().map(|r| r.image).collect(),
        class,
        predicted,
        logits,
        activations: leaf.detach(),
        gradients: grads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(values: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).view(shape)
    }

    #[test]
    fn method_spellings_round_trip() {
        for m in CamMethod::ALL {
            assert_eq!(m.as_str().parse::<CamMethod>().ok(), Some(m));
            assert_eq!(m.file_stem().parse::<CamMethod>().ok(), Some(m));
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
        }
        assert!("score-cam".parse::<CamMethod>().is_err());
    }

    #[test]
    fn formulas_on_a_hand_computed_example() {
        // One image, two channels, 1×2 map.
        let a = t(&[1.0, 3.0, 2.0, 0.0], &[1, 2, 1, 2]);
        let g = t(&[0.5, -0.5, 2.0, 0.0], &[1, 2, 1, 2]);
        // Grad-CAM: w = [0, 1]; map = relu(0*A0 + 1*A1) = [2, 0].
        let gc: Vec<f64> =
            Vec::try_from(cam(CamMethod::GradCam, &a, &g).flatten(0, -1)).unwrap_or_default();
        assert_eq!(gc, vec![2.0, 0.0]);
        // Grad-CAM++ channel 0: sumA = 4; at g=0.5: g2=.25, g3=.125, α=.25/(.5+.5+1e-6); relu(g)=.5 → .125/(1+1e-6)
        // at g=-0.5: relu = 0. Channel 1: sumA = 2; at g=2: α = 4/(8+2*8+1e-6) = 4/24; relu(g)α = 1/3; at g=0: α=0.
        let w: Vec<f64> =
            Vec::try_from(grad_cam_pp_weights(&a, &g).flatten(0, -1)).unwrap_or_default();
        assert!((w[0] - 0.125 / (1.0 + 1e-6)).abs() < 1e-12, "{w:?}");
        assert!((w[1] - 4.0 / (24.0 + 1e-6) * 2.0).abs() < 1e-12, "{w:?}");
        // HiResCAM: Σ_k G⊙A = [0.5*1 + 2*2, -0.5*3 + 0] = [4.5, -1.5] → relu → [4.5, 0].
        let hr: Vec<f64> =
            Vec::try_from(cam(CamMethod::HiResCam, &a, &g).flatten(0, -1)).unwrap_or_default();
        assert_eq!(hr, vec![4.5, 0.0]);
    }

    #[test]
    fn normalize_and_upsample() {
        let m = t(&[1.0, 3.0, 2.0, 5.0, 0.0, 0.0, 0.0, 0.0], &[2, 2, 2]);
        let n: Vec<f64> = Vec::try_from(normalize(&m).flatten(0, -1)).unwrap_or_default();
        assert!((n[0]).abs() < 1e-9 && (n[3] - 1.0).abs() < 1e-6 && (n[1] - 0.5).abs() < 1e-6);
        assert!(n[4..].iter().all(|&v| v == 0.0), "{n:?}");
        let up = upsample(&m.to_kind(Kind::Float), 4, 4);
        assert_eq!(up.size(), vec![2, 4, 4]);
        // Corners of a half-pixel-centred bilinear upsample equal the source corners.
        assert_eq!(up.double_value(&[0, 0, 0]), 1.0);
        assert_eq!(up.double_value(&[0, 3, 3]), 5.0);
    }

    #[test]
    fn bad_requests_are_refused() {
        #[derive(Debug)]
        struct Lin;
        impl CamLayer for Lin {
            fn layer_name(&self) -> String {
                "x".into()
            }
            fn activations(&self, xs: &Tensor) -> Result<Tensor> {
                Ok(xs.shallow_clone())
            }
            fn logits_from_activations(&self, a: &Tensor) -> Result<Tensor> {
                Ok(a.mean_dim([2i64, 3].as_slice(), false, a.kind()))
            }
        }
        let x = Tensor::ones([2, 3, 2, 2], (Kind::Float, Device::Cpu));
        let e = gradients(
            &Lin,
            &x,
            &[Request {
                image: 2,
                target: Target::Predicted,
            }],
        );
        assert!(e.is_err());
        let e = gradients(&Lin, &x, &Request::classes(&[0, 3]));
        assert!(
            e.err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("class 3")
        );
        let ok = gradients(&Lin, &x, &Request::classes(&[0, 2])).map(|g| g.gradients.size());
        assert_eq!(ok.ok(), Some(vec![2, 3, 2, 2]));
    }
}
