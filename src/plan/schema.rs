//! The JSON Schema of the plan format, generated from the model types.
//! `schemas/plan.schema.json` is this text, kept current by a test.

use super::model::PlanFile;

/// An identifier, not a download location: editors load the schema from the
/// modeline's relative path.
pub const SCHEMA_ID: &str = "urn:buildplan:plan-schema:1";

pub fn plan_schema() -> String {
    let mut schema = schemars::schema_for!(PlanFile);
    schema.insert("$id".into(), SCHEMA_ID.into());
    if let Some(top) = schema.as_object_mut() {
        top.values_mut().for_each(allow_extensions);
        if top.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) {
            top.insert("patternProperties".into(), extensions());
        }
    }
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

fn extensions() -> serde_json::Value {
    serde_json::json!({ "^x-": {}, "^<<$": {} })
}

/// What the YAML reader accepts in every section and job beyond its fields:
/// `x-` keys (extensions, a home for anchors) and `<<` (merge keys).
fn allow_extensions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) {
                map.insert("patternProperties".into(), extensions());
            }
            for child in map.values_mut() {
                allow_extensions(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(allow_extensions),
        _ => {}
    }
}
