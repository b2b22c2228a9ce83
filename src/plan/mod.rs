//! The plan language: files in, a resolved and validated plan out. Pure:
//! reads the plan files it is given and nothing else.

pub mod address;
pub mod attest_spec;
pub mod builder_choice;
pub mod cache_spec;
pub mod diagnostic;
pub mod dockerfile;
pub mod git_meta;
pub mod import;
pub mod load;
pub mod located;
pub mod mirror_spec;
pub mod model;
pub mod overrides;
pub mod pipeline;
pub mod platform;
pub mod reference;
pub mod resolve;
pub mod resolved;
pub mod schema;
pub mod source;
pub mod ssh_spec;
pub mod starter;
pub mod string_list;
pub mod tag_selection;
pub mod template;
pub mod validate;
pub mod yaml;
