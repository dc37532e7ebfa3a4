//! From YAML values to the JSON values params are parsed from, refusing what JSON cannot hold.
//!
//! JSON has no infinity and no NaN: `serde_json` turns YAML's `.inf`, `-.inf` and `.nan` into `null`, and a param
//! whose `null` means "the default" (`lr`, `grad_clip`, …) then silently took its default. [`to_json`] refuses
//! them instead, naming the key.

use crate::{CoreError, Result};

/// Converts `value` (found at `at`, e.g. `lr` or `""` for a whole mapping) to JSON. A non-finite number anywhere
/// inside is an error naming its key path (`augment.rotation`, `crop_scale[1]`).
pub fn to_json(value: &serde_yaml::Value, at: &str) -> Result<serde_json::Value> {
    check_finite(value, at)?;
    serde_json::to_value(value).map_err(|e| CoreError::NoJsonForm {
        key: at.to_string(),
        reason: e.to_string(),
    })
}

fn key_name(k: &serde_yaml::Value) -> String {
    match k {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn check_finite(value: &serde_yaml::Value, at: &str) -> Result<()> {
    match value {
        serde_yaml::Value::Number(n) => match n.as_f64() {
            Some(f) if !f.is_finite() => Err(CoreError::NotFinite {
                key: at.to_string(),
                value: f.to_string(),
            }),
            _ => Ok(()),
        },
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_finite(v, &format!("{at}[{i}]"))),
        serde_yaml::Value::Mapping(map) => map
            .iter()
            .try_for_each(|(k, v)| check_finite(v, &join(at, &key_name(k)))),
        serde_yaml::Value::Tagged(t) => check_finite(&t.value, at),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> std::result::Result<serde_json::Value, String> {
        let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        to_json(&v, "").map_err(|e| e.to_string())
    }

    #[test]
    fn non_finite_numbers_are_refused_with_their_key() {
        for (text, key) in [
            ("lr: .inf", "`lr`"),
            ("lr: .nan", "`lr`"),
            ("grad_clip: -.inf", "`grad_clip`"),
            ("augment: {rotation: .inf}", "`augment.rotation`"),
            ("crop_scale: [0.5, .nan]", "`crop_scale[1]`"),
        ] {
            let e = convert(text).err().unwrap_or_default();
            assert!(
                e.contains(key) && e.contains("not a finite number"),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn finite_values_convert_as_before() {
        let v = convert("lr: 0.001\nepochs: 3\nname: x\nn: null\nl: [1, 2.5]").unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"lr": 0.001, "epochs": 3, "name": "x", "n": null, "l": [1, 2.5]})
        );
    }
}
