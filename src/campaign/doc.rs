//! What one shard of a campaign found, as JSON: `armhil test --json` (one entry per
//! scene) and `armhil fuzz-faults --json` (one per seed). Each document names the
//! armhil version, its shard, the campaign's plan (a digest of everything that
//! decides the items and their outcome, the same in every shard) and how many items
//! the whole campaign has, so a merge can tell a complete set from a wrong one.

use serde::{Deserialize, Serialize};

use super::Shard;
use super::shard::stable_hash;
use crate::faults::FaultSpec;

/// Format tags, checked when a document is read.
pub const TEST_FORMAT: &str = "armhil-test/1";
pub const FUZZ_FORMAT: &str = "armhil-fuzz-faults/1";

/// One scene's outcome in `armhil test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneOutcome {
    /// Its place in the whole campaign's list of scenes (from 0).
    pub index: usize,
    /// The scene file, as named on the command line (or found under a directory).
    pub file: String,
    /// `PASS`, `FAIL` or `ERROR` (it could not run).
    pub result: String,
    pub expectations_passed: usize,
    pub expectations_total: usize,
    pub sim_time_s: f64,
    pub wall_time_s: f64,
    /// The first failed expectation (or why it did not run); empty when it passed.
    pub first_failure: String,
}

/// One seed's outcome in `armhil fuzz-faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOutcome {
    pub seed: u64,
    pub faults: Vec<FaultSpec>,
    pub violations: Vec<String>,
    /// (kind, detection latency in control periods) of every detected fault.
    pub detections: Vec<(String, f64)>,
    /// (kind, recovery s) of every fault that ended and recovered.
    pub recoveries: Vec<(String, f64)>,
    /// Deadline misses of joints without a fault.
    pub healthy_misses: u64,
    pub replay: String,
}

/// `armhil test --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDoc {
    pub format: String,
    pub armhil_version: String,
    pub shard: Shard,
    pub plan: String,
    /// Scenes in the whole campaign (all shards).
    pub items_total: usize,
    pub scenes: Vec<SceneOutcome>,
}

/// `armhil fuzz-faults --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuzzDoc {
    pub format: String,
    pub armhil_version: String,
    pub shard: Shard,
    pub plan: String,
    /// The scene fuzzed, as named on the command line.
    pub scene: String,
    pub first_seed: u64,
    pub last_seed: u64,
    /// Seeds in the whole campaign (all shards).
    pub items_total: usize,
    pub outcomes: Vec<SeedOutcome>,
}

/// Either document.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Test(TestDoc),
    Fuzz(FuzzDoc),
}

impl Doc {
    /// Reads a shard document (JSON), telling which kind it is by its format tag.
    pub fn parse(text: &str) -> Result<Doc, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(TEST_FORMAT) => serde_json::from_value(v)
                .map(Doc::Test)
                .map_err(|e| e.to_string()),
            Some(FUZZ_FORMAT) => serde_json::from_value(v)
                .map(Doc::Fuzz)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "format {other:?}: expected {TEST_FORMAT:?} (armhil test --json) or {FUZZ_FORMAT:?} (armhil fuzz-faults --json)"
            )),
        }
    }

    pub fn to_json(&self) -> String {
        let r = match self {
            Doc::Test(d) => serde_json::to_string_pretty(d),
            Doc::Fuzz(d) => serde_json::to_string_pretty(d),
        };
        r.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Whether every item passed.
    pub fn passed(&self) -> bool {
        match self {
            Doc::Test(d) => d.scenes.iter().all(|s| s.result == "PASS"),
            Doc::Fuzz(d) => d.outcomes.iter().all(|o| o.violations.is_empty()),
        }
    }
}

/// The plan digest of `parts` (16 hex digits).
pub fn plan(parts: &[&str]) -> String {
    format!("{:016x}", stable_hash(parts.join("\u{1f}").as_bytes()))
}
