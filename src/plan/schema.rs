//! The JSON Schema of the plan format, generated from the model types.
//! `schemas/plan.schema.json` is this text, kept current by a test.

use super::model::PlanFile;

/// An identifier, not a download location: editors load the schema from the
/// modeline's relative path.
pub const SCHEMA_ID: &str = "urn:buildplan:plan-schema:1";

pub fn plan_schema() -> String {
    let mut schema = schemars::schema_for!(PlanFile);
    schema.insert("$id".into(), SCHEMA_ID.into());
    // Our own types, string keys only: serializing them cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
