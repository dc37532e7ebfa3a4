//! Pretrained EfficientNet-Lite0 recognises real bird photos as birds (ImageNet head), and the recorded input
//! normalisation is the better of the two candidates on these photos.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod common;

use birds_core::Normalization;
use birds_models::{ImageClassifier, imagenet, input};

fn bird_fraction(
    model: &birds_models::EfficientNetLite0,
    images: &[image::RgbImage],
    norm: Normalization,
) -> f64 {
    let mut birds = 0usize;
    for chunk in images.chunks(30) {
        let x = input::images_to_tensor(chunk, norm);
        let top1: Vec<i64> = tch::no_grad(|| model.logits(&x, false).argmax(-1, false))
            .try_into()
            .unwrap();
        birds += top1.iter().filter(|&&id| imagenet::is_bird(id)).count();
    }
    birds as f64 / images.len() as f64
}

#[test]
fn test_split_photos_are_classified_as_birds() {
    let root = common::sample_root();
    let files = common::split_files(&root, "test");
    assert_eq!(files.len(), 150);
    let images: Vec<_> = files
        .iter()
        .map(|f| input::stretch_to_square(&input::load_rgb(f).unwrap(), 224))
        .collect();
    let (_vs, model) = common::imagenet_lite0();
    let centered = bird_fraction(&model, &images, Normalization::Centered127);
    let imagenet_stats = bird_fraction(&model, &images, Normalization::Imagenet);
    println!(
        "bird top-1 on 150 test photos: centered127 {:.1}%, imagenet {:.1}%",
        centered * 100.0,
        imagenet_stats * 100.0
    );
    let recorded = Normalization::default();
    let (best, other) = if recorded == Normalization::Centered127 {
        (centered, imagenet_stats)
    } else {
        (imagenet_stats, centered)
    };
    assert!(
        best >= 0.85,
        "only {:.1}% of bird photos got a bird class with {recorded}",
        best * 100.0
    );
    assert!(
        best >= other,
        "the recorded normalisation {recorded} is not the better one ({best} < {other})"
    );
}
