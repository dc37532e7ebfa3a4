//! `--set stage.key=value`: one-off param overrides.
//!
//! The value is read as a YAML scalar or flow collection, so `--set train.lr=0.01` gives a number,
//! `--set train.augment=true` a boolean, `--set report.title=birds` a string, `--set s.sizes=[224,256]` a list and
//! `--set s.name=` an empty string. Quote to force a string: `--set s.tag="'007'"`. Nested keys use dots:
//! `--set train.optim.lr=0.1`.

/// One parsed `--set`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOverride {
    /// As given on the command line.
    pub raw: String,
    /// The stage name.
    pub stage: String,
    /// The param key path (at least one key).
    pub key: Vec<String>,
    /// The new value.
    pub value: serde_json::Value,
}

impl SetOverride {
    /// Parses `stage.key[.sub…]=value`; the error says what is wrong and shows the expected form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let form = "expected `STAGE.KEY=VALUE`, e.g. `--set train.lr=0.01`";
        let Some((lhs, rhs)) = raw.split_once('=') else {
            return Err(format!("--set `{raw}`: no `=`; {form}"));
        };
        let mut parts = lhs.split('.');
        let stage = parts.next().unwrap_or_default().trim().to_string();
        let key: Vec<String> = parts.map(|p| p.trim().to_string()).collect();
        if stage.is_empty() || key.is_empty() || key.iter().any(String::is_empty) {
            return Err(format!("--set `{raw}`: `{lhs}` is not STAGE.KEY; {form}"));
        }
        let value = if rhs.is_empty() {
            serde_json::Value::String(String::new())
        } else {
            let quote = format!("quote it to pass a string: --set '{lhs}=\"{rhs}\"'");
            let yaml: serde_yaml::Value = serde_yaml::from_str(rhs).map_err(|e| {
                format!("--set `{raw}`: value `{rhs}` is not valid YAML ({e}); {quote}")
            })?;
            serde_json::to_value(yaml).map_err(|e| {
                format!("--set `{raw}`: value `{rhs}` cannot be a param ({e}); {quote}")
            })?
        };
        Ok(Self {
            raw: raw.to_string(),
            stage,
            key,
            value,
        })
    }

    /// The dotted key (`optim.lr`).
    pub fn dotted_key(&self) -> String {
        self.key.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_values() -> Result<(), String> {
        assert_eq!(SetOverride::parse("train.lr=0.01")?.value, json!(0.01));
        assert_eq!(SetOverride::parse("train.epochs=3")?.value, json!(3));
        assert_eq!(SetOverride::parse("train.aug=true")?.value, json!(true));
        assert_eq!(SetOverride::parse("r.title=birds")?.value, json!("birds"));
        assert_eq!(SetOverride::parse("r.tag='007'")?.value, json!("007"));
        assert_eq!(SetOverride::parse("r.s=[1, 2]")?.value, json!([1, 2]));
        assert_eq!(SetOverride::parse("r.s=")?.value, json!(""));
        assert_eq!(SetOverride::parse("r.s=a=b")?.value, json!("a=b"));
        let nested = SetOverride::parse("train.optim.lr=1e-3")?;
        assert_eq!(nested.stage, "train");
        assert_eq!(nested.key, vec!["optim", "lr"]);
        assert_eq!(nested.dotted_key(), "optim.lr");
        Ok(())
    }

    #[test]
    fn malformed() {
        for bad in [
            "train",
            "train=1",
            ".lr=1",
            "train.=1",
            "train..lr=1",
            "t.k=[1,",
        ] {
            let err = SetOverride::parse(bad).err().unwrap_or_default();
            assert!(err.starts_with(&format!("--set `{bad}`")), "{bad}: {err}");
        }
    }
}
