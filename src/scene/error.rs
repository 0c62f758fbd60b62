//! Scene errors: every message names the file, the field (as a path such as
//! `arm.links[2].mass_kg`), what was found and what is expected. Line and column are
//! given where the parser knows them.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Field path, e.g. `drives["elbow"].rate_hz`.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

/// Why a scene could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The RON text does not match the schema (syntax, unknown or missing field, type).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A URDF file is malformed.
    #[error("{file}: URDF: {message}")]
    Urdf { file: PathBuf, message: String },
    /// Values parsed but are out of range or inconsistent.
    #[error("{}", format_invalid(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

fn format_invalid(file: &std::path::Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}: {}: {}", file.display(), p.field, p.message));
    }
    out
}

impl SceneError {
    /// The problems of an `Invalid` error (empty for other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            SceneError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// Collects problems while validating.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, field: impl fmt::Display, message: impl fmt::Display) {
        self.0.push(Problem {
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    /// Checks `lo <= v <= hi` (and finiteness).
    pub fn range(&mut self, field: impl fmt::Display, v: f64, lo: f64, hi: f64, unit: &str) {
        if !v.is_finite() || v < lo || v > hi {
            self.push(
                field,
                format!(
                    "{} is out of range: expected {lo} ..= {hi} {unit}",
                    fmt_f(v)
                ),
            );
        }
    }

    /// Checks `v > 0` (and finiteness), with an upper bound.
    pub fn positive(&mut self, field: impl fmt::Display, v: f64, hi: f64, unit: &str) {
        if !v.is_finite() || v <= 0.0 || v > hi {
            self.push(
                field,
                format!(
                    "{} is out of range: expected > 0 and <= {hi} {unit}",
                    fmt_f(v)
                ),
            );
        }
    }

    pub fn finite(&mut self, field: impl fmt::Display, v: f64) {
        if !v.is_finite() {
            self.push(field, format!("{} is not a finite number", fmt_f(v)));
        }
    }
}

fn fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}
