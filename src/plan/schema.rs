//! The JSON Schema of the plan format, generated from the model types.
//! `schemas/plan.schema.json` is this text, kept current by a test.

use super::model::PlanFile;

pub const SCHEMA_ID: &str = "https://github.com/buildplan/buildplan/schemas/plan.schema.json";

pub fn plan_schema() -> String {
    let mut schema = schemars::schema_for!(PlanFile);
    schema.insert("$id".into(), SCHEMA_ID.into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
