//! Shards of a campaign: `--shard K/N` (1-based, as cargo-nextest counts) or
//! `--shard auto[/N]`, which reads the index and total from the scheduler running
//! this process (Bazel, Slurm job arrays, GitLab `parallel`, Kubernetes Indexed
//! Jobs). Items (scene files, seeds) go to shards by a stable hash of their own key,
//! so adding an item moves only that item and every item is in exactly one shard.

use super::CampaignError;

/// Shard `index` of `total` (1 <= index <= total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Most shards a campaign may have.
pub const MAX_SHARDS: u32 = 100_000;

/// What `--shard` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(Shard),
    /// From the scheduler's variables; the total given here where it sets none.
    Auto(Option<u32>),
}

/// Parses `K/N`, `auto` or `auto/N`.
pub fn parse(s: &str) -> Result<ShardArg, String> {
    let total = |n: &str| -> Result<u32, String> {
        match n.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_SHARDS).contains(&n) => Ok(n),
            _ => Err(format!(
                "{s:?}: the total {n:?} is out of range: expected 1 ..= {MAX_SHARDS}"
            )),
        }
    };
    if s == "auto" {
        return Ok(ShardArg::Auto(None));
    }
    if let Some(n) = s.strip_prefix("auto/") {
        return Ok(ShardArg::Auto(Some(total(n)?)));
    }
    let Some((k, n)) = s.split_once('/') else {
        return Err(format!("{s:?}: expected K/N (1 <= K <= N), auto or auto/N"));
    };
    let total = total(n)?;
    match k.trim().parse::<u32>() {
        Ok(index) if (1..=total).contains(&index) => Ok(ShardArg::Fixed(Shard { index, total })),
        _ => Err(format!(
            "{s:?}: the index {k:?} is out of range: expected 1 ..= {total}"
        )),
    }
}

/// Where `auto` looks, in this order (the first scheduler whose index is set wins).
pub const LOOKED_FOR: &str = "TEST_SHARD_INDEX/TEST_TOTAL_SHARDS (Bazel), \
SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT/SLURM_ARRAY_TASK_MIN (Slurm), \
CI_NODE_INDEX/CI_NODE_TOTAL (GitLab), JOB_COMPLETION_INDEX (Kubernetes, with auto/N)";

/// The shard a scheduler's variables name. `env` reads a variable; `total` is the
/// N of `auto/N`. Indices are normalised to 1-based (Kubernetes index 2 of 4 is
/// shard 3/4).
pub fn from_env(
    env: &dyn Fn(&str) -> Option<String>,
    total: Option<u32>,
) -> Result<(Shard, &'static str), CampaignError> {
    let num = |name: &str| -> Result<Option<i64>, CampaignError> {
        match env(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
                CampaignError::Shard(format!("--shard auto: {name}={v:?} is not a whole number"))
            }),
        }
    };
    // (scheduler, 1-based index, its total)
    let found: Option<(&'static str, i64, Option<i64>)> = if let Some(i) = num("TEST_SHARD_INDEX")?
    {
        Some(("Bazel", i + 1, num("TEST_TOTAL_SHARDS")?))
    } else if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        Some((
            "Slurm",
            (id - min) / step + 1,
            num("SLURM_ARRAY_TASK_COUNT")?,
        ))
    } else if let Some(i) = num("CI_NODE_INDEX")? {
        Some(("GitLab", i, num("CI_NODE_TOTAL")?))
    } else if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        Some(("Kubernetes", i + 1, None))
    } else {
        None
    };
    let Some((who, index, their_total)) = found else {
        return Err(CampaignError::Shard(format!(
            "--shard auto: no scheduler's shard index is set; looked for {LOOKED_FOR}"
        )));
    };
    let n = match (their_total, total) {
        (Some(t), Some(n)) if t != i64::from(n) => {
            return Err(CampaignError::Shard(format!(
                "--shard auto/{n}: {who} says there are {t} shards"
            )));
        }
        (Some(t), _) => t,
        (None, Some(n)) => i64::from(n),
        (None, None) => {
            return Err(CampaignError::Shard(format!(
                "--shard auto: {who} gives the index but not the total: use --shard auto/N"
            )));
        }
    };
    if !(1..=i64::from(MAX_SHARDS)).contains(&n) || !(1..=n).contains(&index) {
        return Err(CampaignError::Shard(format!(
            "--shard auto: {who}'s shard {index}/{n} is out of range: expected 1 <= K <= N <= {MAX_SHARDS}"
        )));
    }
    Ok((
        Shard {
            index: index as u32,
            total: n as u32,
        },
        who,
    ))
}

/// Bazel asks a test that shards to touch `TEST_SHARD_STATUS_FILE`.
pub fn tell_bazel(env: &dyn Fn(&str) -> Option<String>) -> std::io::Result<()> {
    match env("TEST_SHARD_STATUS_FILE") {
        Some(p) if !p.is_empty() => std::fs::write(p, b""),
        _ => Ok(()),
    }
}

/// FNV-1a, 64 bits: a hash that never changes between versions or machines.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Shard {
    /// The whole campaign in one shard.
    pub const ALL: Shard = Shard { index: 1, total: 1 };

    /// The shard (1-based) that item `key` belongs to among `total`.
    pub fn of(key: &str, total: u32) -> u32 {
        (stable_hash(key.as_bytes()) % u64::from(total.max(1))) as u32 + 1
    }

    /// Whether item `key` is this shard's.
    pub fn owns(&self, key: &str) -> bool {
        Self::of(key, self.total) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|v| v.0 == k).map(|v| v.1.to_string())
    }

    #[test]
    fn parses_fixed_and_auto_and_refuses_the_rest() {
        assert_eq!(
            parse("3/4"),
            Ok(ShardArg::Fixed(Shard { index: 3, total: 4 }))
        );
        assert_eq!(parse("auto"), Ok(ShardArg::Auto(None)));
        assert_eq!(parse("auto/100"), Ok(ShardArg::Auto(Some(100))));
        for bad in [
            "0/4", "5/4", "1/0", "x/2", "3", "auto/0", "auto/x", "1/100001",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_scheduler_is_normalised_to_one_based() {
        let k8s = [("JOB_COMPLETION_INDEX", "2")];
        assert_eq!(
            from_env(&env(&k8s), Some(4)).ok(),
            Some((Shard { index: 3, total: 4 }, "Kubernetes"))
        );
        assert!(
            from_env(&env(&k8s), None).is_err(),
            "Kubernetes sets no total"
        );
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "10"),
        ];
        assert_eq!(
            from_env(&env(&slurm), None).ok(),
            Some((
                Shard {
                    index: 3,
                    total: 10
                },
                "Slurm"
            ))
        );
        // A total given that the scheduler contradicts is refused.
        assert!(from_env(&env(&slurm), Some(4)).is_err());
        let gitlab = [("CI_NODE_INDEX", "4"), ("CI_NODE_TOTAL", "4")];
        assert_eq!(
            from_env(&env(&gitlab), None).ok(),
            Some((Shard { index: 4, total: 4 }, "GitLab"))
        );
        let bazel = [("TEST_SHARD_INDEX", "0"), ("TEST_TOTAL_SHARDS", "2")];
        assert_eq!(
            from_env(&env(&bazel), None).ok(),
            Some((Shard { index: 1, total: 2 }, "Bazel"))
        );
        let none = from_env(&env(&[]), Some(3)).map(|x| x.0);
        let Err(CampaignError::Shard(why)) = none else {
            panic!("{none:?}");
        };
        assert!(why.contains("JOB_COMPLETION_INDEX") && why.contains("CI_NODE_INDEX"));
        let out_of_range = [("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")];
        assert!(from_env(&env(&out_of_range), None).is_err());
    }

    #[test]
    fn items_stay_in_their_shard_when_others_are_added() {
        let keys: Vec<String> = (0..1000).map(|s| s.to_string()).collect();
        let shards: Vec<u32> = keys.iter().map(|k| Shard::of(k, 7)).collect();
        // Each key in exactly one shard of 7, every shard used, roughly evenly.
        for s in 1..=7 {
            let n = shards.iter().filter(|&&x| x == s).count();
            assert!((100..=190).contains(&n), "shard {s}: {n}");
            let owner = Shard { index: s, total: 7 };
            assert_eq!(keys.iter().filter(|k| owner.owns(k)).count(), n);
        }
        // The hash is fixed: these assignments are part of the file format.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
