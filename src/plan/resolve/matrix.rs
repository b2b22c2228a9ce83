//! `matrix:`: one job per combination of values, each named by rendering
//! its name template, with a cap on how many one matrix may make.

use std::collections::BTreeMap;

use minijinja::value::Value;

use super::{MAX_MATRIX_JOBS, Resolver, origin};
use crate::plan::address::JobKind;
use crate::plan::diagnostic::Diagnostic;
use crate::plan::located::Located;
use crate::plan::model;
use crate::plan::resolved::At;
use crate::plan::source::FileId;
use crate::plan::template::Scope;

impl Resolver<'_> {
    /// One (name, scope) per matrix combination; the name is rendered in its scope.
    pub(super) fn expand(
        &mut self,
        kind: JobKind,
        file: FileId,
        name: &Located<String>,
        matrix: Option<&model::Matrix>,
    ) -> Vec<(At<String>, Scope)> {
        let base = self.scope.clone();
        let scopes = match matrix {
            None => vec![base],
            Some(matrix) => match self.matrix_scopes(file, matrix) {
                Some(scopes) => scopes,
                None => return Vec::new(),
            },
        };
        let several = scopes.len() > 1;
        let mut out: Vec<(At<String>, Scope)> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let Some(rendered) = self.text(file, name, &scope) else {
                return Vec::new();
            };
            if several
                && out
                    .first()
                    .is_some_and(|(first, _)| first.value == rendered.value)
            {
                self.error(
                    Diagnostic::error(
                        "plan::matrix-name",
                        format!(
                            "every instance of matrix job `{}` gets the same name",
                            rendered.value
                        ),
                    )
                    .label(rendered.at, "this name does not use the matrix")
                    .help(format!(
                        "put a matrix value in the name, e.g. `{}-{{{{ {} }}}}`",
                        name.value,
                        matrix
                            .and_then(|m| m.value.keys().next())
                            .map_or("value", |k| k.value.as_str())
                    )),
                );
                return Vec::new();
            }
            if !self.check_name(kind, &rendered) {
                return Vec::new();
            }
            if self.claim(kind.section(), kind.prefix(), &rendered.value, rendered.at) {
                out.push((rendered, scope));
            }
        }
        out
    }

    fn matrix_scopes(&mut self, file: FileId, matrix: &model::Matrix) -> Option<Vec<Scope>> {
        let axes = self.matrix_axes(file, matrix)?;
        let total = axes.iter().fold(1usize, |total, (_, values)| {
            total.saturating_mul(values.len())
        });
        // Where a budget error points: the matrix's first variable (the
        // mapping itself has no span of its own).
        let first_key = matrix
            .value
            .keys()
            .next()
            .map_or(origin(file, matrix.span), |k| origin(file, k.span));
        if !self.within_budget(total, first_key) {
            return None;
        }
        let mut scopes = Vec::with_capacity(total);
        let mut index = vec![0usize; axes.len()];
        loop {
            let values: BTreeMap<String, Value> = axes
                .iter()
                .zip(&index)
                .map(|((name, values), &i)| (name.clone(), Value::from(values[i].clone())))
                .collect();
            scopes.push(self.scope.with_matrix(values));
            // Odometer: the last axis turns fastest, so instances keep the order written.
            let mut axis = axes.len();
            loop {
                if axis == 0 {
                    return Some(scopes);
                }
                axis -= 1;
                index[axis] += 1;
                if index[axis] < axes[axis].1.len() {
                    break;
                }
                index[axis] = 0;
            }
        }
    }

    /// Each matrix variable with its values rendered; `None` (reported)
    /// when the matrix or a variable is empty, or a value does not render.
    fn matrix_axes(
        &mut self,
        file: FileId,
        matrix: &model::Matrix,
    ) -> Option<Vec<(String, Vec<String>)>> {
        if matrix.value.is_empty() {
            self.error(
                Diagnostic::error("plan::empty-matrix", "the matrix has no variables")
                    .label(origin(file, matrix.span), "empty matrix")
                    .help("give the matrix at least one variable with values, e.g. `tag: [\"3.12\", \"3.13\"]`, or remove it"),
            );
            return None;
        }
        let mut axes = Vec::with_capacity(matrix.value.len());
        for (key, values) in &matrix.value {
            if values.value.is_empty() {
                self.error(
                    Diagnostic::error(
                        "plan::empty-matrix",
                        format!("matrix variable `{}` has no values", key.value),
                    )
                    .label(origin(file, values.span), "no values")
                    .help("list at least one value, or remove the variable"),
                );
                return None;
            }
            let mut rendered: Vec<String> = Vec::with_capacity(values.value.len());
            for value in &values.value {
                // A value that does not render was reported; the matrix is
                // not expanded with a value missing.
                rendered.push(self.text(file, value, &self.scope.clone())?.value);
            }
            axes.push((key.value.clone(), rendered));
        }
        Some(axes)
    }

    /// Whether `total` more jobs fit one matrix's cap and the whole plan's
    /// (reported at `at` when not); counts them when they do.
    fn within_budget(&mut self, total: usize, at: crate::plan::source::Origin) -> bool {
        if total > MAX_MATRIX_JOBS {
            self.error(
                Diagnostic::error(
                    "plan::budget",
                    format!(
                        "the matrix expands to {total} jobs, over the limit of {MAX_MATRIX_JOBS}"
                    ),
                )
                .label(at, "this matrix")
                .help("split the matrix into smaller ones"),
            );
            return false;
        }
        if self.matrix_jobs + total > MAX_MATRIX_JOBS {
            self.error(
                Diagnostic::error(
                    "plan::budget",
                    format!(
                        "the plan's matrices expand to more than {MAX_MATRIX_JOBS} jobs in all ({} before this one, {total} from it)",
                        self.matrix_jobs
                    ),
                )
                .label(at, "this matrix goes over the plan's limit")
                .help("make the matrices smaller, or split the plan into several runs with `--target`"),
            );
            return false;
        }
        self.matrix_jobs += total;
        true
    }
}
