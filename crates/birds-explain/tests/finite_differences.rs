//! Channel weights against finite differences on a tiny double-precision network.
//!
//! The explained layer is the first conv + ReLU of a two-conv net (`conv → ReLU → [A] → conv → ReLU → mean → linear`),
//! so the gradient varies over space and Grad-CAM++ differs from Grad-CAM. The gradient of each target logit with
//! respect to every element of `A` is estimated by central differences, and the channel weights are recomputed
//! from those estimates with plain loops (independent of the tensor code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use birds_explain::cam::{self, CamLayer, CamMethod, Request, Target};
use tch::{Device, Kind, Tensor};

struct TinyNet {
    conv1: Tensor,
    bias1: Tensor,
    conv2: Tensor,
    bias2: Tensor,
    fc: Tensor,
    fc_bias: Tensor,
}

impl TinyNet {
    fn new() -> Self {
        tch::manual_seed(11);
        let o = (Kind::Double, Device::Cpu);
        Self {
            conv1: Tensor::randn([4, 3, 3, 3], o) * 0.5,
            bias1: Tensor::randn([4], o) * 0.1,
            conv2: Tensor::randn([5, 4, 3, 3], o) * 0.5,
            bias2: Tensor::randn([5], o) * 0.1,
            fc: Tensor::randn([3, 5], o),
            fc_bias: Tensor::randn([3], o),
        }
    }
}

impl CamLayer for TinyNet {
    fn layer_name(&self) -> String {
        "conv1".into()
    }

    fn activations(&self, xs: &Tensor) -> birds_explain::Result<Tensor> {
        Ok(xs
            .conv2d(&self.conv1, Some(&self.bias1), [1, 1], [1, 1], [1, 1], 1)
            .relu())
    }

    fn logits_from_activations(&self, a: &Tensor) -> birds_explain::Result<Tensor> {
        let h = a
            .conv2d(&self.conv2, Some(&self.bias2), [1, 1], [1, 1], [1, 1], 1)
            .relu();
        Ok(h.mean_dim([2i64, 3].as_slice(), false, Kind::Double)
            .linear(&self.fc, Some(&self.fc_bias)))
    }
}

/// `[C][h][w]` of image `n` as nested vectors.
fn to_nested(t: &Tensor, n: i64) -> Vec<Vec<Vec<f64>>> {
    let x = t.get(n);
    let (c, h, w) = (x.size()[0], x.size()[1], x.size()[2]);
    (0..c)
        .map(|k| {
            (0..h)
                .map(|i| (0..w).map(|j| x.double_value(&[k, i, j])).collect())
                .collect()
        })
        .collect()
}

#[test]
fn weights_match_finite_differences() {
    let net = TinyNet::new();
    let x = Tensor::randn([2, 3, 6, 5], (Kind::Double, Device::Cpu));
    let targets = [2i64, 0];
    let requests = [
        Request {
            image: 0,
            target: Target::Class(targets[0]),
        },
        Request {
            image: 1,
            target: Target::Class(targets[1]),
        },
    ];
    let g = cam::gradients(&net, &x, &requests).unwrap();
    let acts = net.activations(&x).unwrap();
    let eps = 1e-6;
    for (n, &class) in targets.iter().enumerate() {
        let n = n as i64;
        let a = to_nested(&acts, n);
        let (c, h, w) = (a.len(), a[0].len(), a[0][0].len());
        // Numerical gradient of logit[class] with respect to every activation of image n.
        let mut numeric = vec![vec![vec![0.0; w]; h]; c];
        for k in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let mut plus = acts.get(n).copy();
                    let mut minus = acts.get(n).copy();
                    let v = a[k][i][j];
                    let _ = plus
                        .get(k as i64)
                        .get(i as i64)
                        .get(j as i64)
                        .fill_(v + eps);
                    let _ = minus
                        .get(k as i64)
                        .get(i as i64)
                        .get(j as i64)
                        .fill_(v - eps);
                    plus = plus.unsqueeze(0);
                    minus = minus.unsqueeze(0);
                    let lp = net
                        .logits_from_activations(&plus)
                        .unwrap()
                        .double_value(&[0, class]);
                    let lm = net
                        .logits_from_activations(&minus)
                        .unwrap()
                        .double_value(&[0, class]);
                    numeric[k][i][j] = (lp - lm) / (2.0 * eps);
                }
            }
        }
        let analytic = to_nested(&g.gradients, n);
        let mut worst: f64 = 0.0;
        for k in 0..c {
            for i in 0..h {
                for j in 0..w {
                    worst = worst.max((numeric[k][i][j] - analytic[k][i][j]).abs());
                }
            }
        }
        assert!(
            worst < 1e-7,
            "image {n}: gradient differs from finite differences by {worst}"
        );

        // Grad-CAM: spatial mean. Grad-CAM++: Σ relu(g) g²/(2g² + ΣA g³ + eps), 0 where g = 0.
        let gc = g.weights(CamMethod::GradCam).unwrap();
        let pp = g.weights(CamMethod::GradCamPlusPlus).unwrap();
        let mut spread = 0.0;
        for k in 0..c {
            let cells: Vec<(f64, f64)> = (0..h)
                .flat_map(|i| (0..w).map(move |j| (i, j)))
                .map(|(i, j)| (numeric[k][i][j], a[k][i][j]))
                .collect();
            let mean = cells.iter().map(|(g, _)| g).sum::<f64>() / cells.len() as f64;
            let sum_a: f64 = cells.iter().map(|(_, a)| a).sum();
            let plus: f64 = cells
                .iter()
                .map(|&(g, _)| {
                    if g == 0.0 {
                        0.0
                    } else {
                        g.max(0.0) * g * g
                            / (2.0 * g * g + sum_a * g * g * g + cam::GRAD_CAM_PP_EPS)
                    }
                })
                .sum();
            let (ours_gc, ours_pp) = (
                gc.double_value(&[n, k as i64]),
                pp.double_value(&[n, k as i64]),
            );
            eprintln!(
                "image {n} channel {k}: grad-cam {ours_gc:+.6} (fd {mean:+.6}), grad-cam++ {ours_pp:+.6} (fd {plus:+.6})"
            );
            assert!(
                (ours_gc - mean).abs() < 1e-7,
                "image {n} channel {k}: grad-cam weight {ours_gc} vs {mean}"
            );
            assert!(
                (ours_pp - plus).abs() < 1e-6,
                "image {n} channel {k}: grad-cam++ weight {ours_pp} vs {plus}"
            );
            spread += (ours_gc - ours_pp).abs();
            // Not vacuous: the gradient is not constant over space.
        }
        assert!(
            spread > 1e-3,
            "image {n}: Grad-CAM and Grad-CAM++ weights coincide"
        );
        let cells = &numeric[0];
        let min = cells
            .iter()
            .flatten()
            .cloned()
            .fold(f64::INFINITY, f64::min);
        let max = cells
            .iter()
            .flatten()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            max - min > 1e-3,
            "image {n}: gradient constant over space ({min}..{max})"
        );
    }
}
