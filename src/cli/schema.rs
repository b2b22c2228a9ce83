//! `plan schema`: the JSON Schema of the plan format.

use super::{Output, exit};

pub fn run(output: &mut Output) -> u8 {
    output.out(&crate::plan::schema::plan_schema());
    exit::OK
}
