//! `--shard` for `armhil test` and `armhil fuzz-faults`: the argument parsed by
//! clap, resolved here against this process's environment (the scheduler's
//! variables), and the plan a `--dry-run` prints.

use armhil::campaign::shard::{self, Shard, ShardArg};

use super::BadInput;

/// clap's parser for `--shard`.
pub(crate) fn arg(s: &str) -> Result<ShardArg, String> {
    shard::parse(s)
}

/// The shard this process runs (all of it without `--shard`), and who said so.
pub(crate) fn resolve(a: Option<ShardArg>) -> Result<(Shard, String), BadInput> {
    let env = |k: &str| std::env::var(k).ok();
    match a {
        None => Ok((Shard::ALL, "no --shard".into())),
        Some(ShardArg::Fixed(s)) => Ok((s, "--shard".into())),
        Some(ShardArg::Auto(total)) => {
            let (s, who) = shard::from_env(&env, total).map_err(|e| BadInput(e.to_string()))?;
            if who == "Bazel" {
                shard::tell_bazel(&env).map_err(|e| {
                    BadInput(format!(
                        "--shard auto: cannot touch TEST_SHARD_STATUS_FILE: {e}"
                    ))
                })?;
            }
            Ok((s, format!("{who}'s variables")))
        }
    }
}
