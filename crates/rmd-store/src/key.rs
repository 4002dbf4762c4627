//! Artifact keys: blake3 of the canonical JSON of what determines an artifact's content.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Everything that determines an artifact's content, and nothing else.
///
/// Code identity, timings and host facts are recorded in the manifest but are *not* part
/// of the key: a stage bumps `schema_version` when the meaning of its output changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactSpec {
    /// Stage name, also the store sub-directory (`noise`, `dataset`, ...).
    pub stage: String,
    /// Version of the stage's output semantics.
    pub schema_version: u32,
    /// Every parameter that changes the result.
    pub params: Value,
    /// Upstream artifacts by role name → key.
    pub inputs: BTreeMap<String, String>,
}

impl ArtifactSpec {
    /// Builds a spec from any serialisable parameter struct.
    pub fn new(stage: &str, schema_version: u32, params: &impl Serialize) -> Self {
        ArtifactSpec {
            stage: stage.to_string(),
            schema_version,
            params: serde_json::to_value(params).expect("artifact params serialise to JSON"),
            inputs: BTreeMap::new(),
        }
    }

    /// Adds an upstream artifact (builder style).
    pub fn with_input(mut self, role: &str, key: &str) -> Self {
        self.inputs.insert(role.to_string(), key.to_string());
        self
    }

    /// The canonical JSON document that is hashed into the key.
    pub fn canonical(&self) -> String {
        let doc = serde_json::json!({
            "stage": self.stage,
            "stage_schema_version": self.schema_version,
            "params": self.params,
            "inputs": self.inputs,
        });
        canonical_json(&doc)
    }

    /// The artifact key: 64 lowercase hex digits of blake3(canonical JSON).
    pub fn key(&self) -> String {
        blake3::hash(self.canonical().as_bytes()).to_hex().to_string()
    }
}

/// Serialises a JSON value with object keys sorted at every level and no whitespace, so the
/// same value always gives the same bytes whatever the map implementation in use.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("string serialises"));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        // -0.0 and 0.0 are the same parameter value: one key for both.
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.push_str("0.0"),
        scalar => out.push_str(&serde_json::to_string(scalar).expect("scalar serialises")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "c": null}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":null,"z":[1,{"x":3,"y":2}]},"b":1}"#);
    }

    #[test]
    fn negative_zero_is_zero() {
        let neg = ArtifactSpec::new("noise", 1, &json!({"rate": -0.0}));
        let pos = ArtifactSpec::new("noise", 1, &json!({"rate": 0.0}));
        assert_eq!(neg.key(), pos.key());
        assert_ne!(
            pos.key(),
            ArtifactSpec::new("noise", 1, &json!({"rate": 0})).key(),
            "0 (integer) is another type"
        );
    }

    #[test]
    fn key_depends_on_every_field() {
        let base = ArtifactSpec::new("noise", 1, &json!({"rate": 0.4})).with_input("dataset", "abc");
        let k = base.key();
        assert_eq!(k.len(), 64);
        assert_eq!(k, base.clone().key(), "key is deterministic");
        let mut other = base.clone();
        other.schema_version = 2;
        assert_ne!(other.key(), k);
        let mut other = base.clone();
        other.params = json!({"rate": 0.5});
        assert_ne!(other.key(), k);
        let other = base.clone().with_input("dataset", "abd");
        assert_ne!(other.key(), k);
        let mut other = base.clone();
        other.stage = "noise2".into();
        assert_ne!(other.key(), k);
    }
}
