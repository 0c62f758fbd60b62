//! Campaigns spread over many machines: `armhil test` and `armhil fuzz-faults` run
//! one shard each (`shard.rs`), write what they found as documents that name their
//! shard and the whole campaign's plan (`doc.rs`), and `armhil merge` checks that a
//! set of shard documents is one complete, consistent campaign and combines them
//! into the report an unsharded run would have written (`merge.rs`). The scheduler
//! (Kubernetes, Slurm, GitLab, GitHub Actions, Bazel) starts the shards; armhil only
//! has to agree with it on which shard this is.

pub mod doc;
pub mod fuzz;
pub mod merge;
pub mod shard;

pub use doc::{Doc, FuzzDoc, SceneOutcome, SeedOutcome, TestDoc};
pub use shard::{Shard, ShardArg};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CampaignError {
    /// `--shard` could not be resolved.
    #[error("{0}")]
    Shard(String),
    /// A shard document that cannot be read.
    #[error("{file}: {why}")]
    Unreadable { file: String, why: String },
    /// Shard documents that are not one campaign (or not all of it).
    #[error("inconsistent shards: {0}")]
    Inconsistent(String),
}
