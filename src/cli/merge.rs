//! `armhil merge`: the outputs of a campaign's shards (JUnit XML of `armhil test
//! --junit`; JSON of `armhil test --json` or `armhil fuzz-faults --json`) joined
//! into the report an unsharded run writes, after checking they are every shard of
//! one campaign, once. Exit 1 if anything failed, 2 if the inputs do not fit.

use std::path::PathBuf;
use std::process::ExitCode;

use armhil::campaign::{self, Doc, merge};

use super::{BadInput, writable};

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Shard outputs: JUnit XML (`armhil test --junit`) and/or JSON (`armhil test
    /// --json`, `armhil fuzz-faults --json`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write the merged JUnit XML to FILE (from the shards' JUnit files).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the merged JSON to FILE (from the shards' JSON files).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn cmd_merge(a: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut xml = Vec::new();
    let mut json = Vec::new();
    for f in &a.files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f)
            .map_err(|e| BadInput(format!("{name}: cannot read: {e}")))?;
        if text.trim_start().starts_with('<') {
            xml.push((name, text));
        } else {
            let d = Doc::parse(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
            json.push((name, d));
        }
    }
    if a.junit.is_some() && xml.is_empty() {
        return Err(BadInput("--junit: merging JUnit needs the shards' JUnit files".into()).into());
    }
    if a.json.is_some() && json.is_empty() {
        return Err(BadInput("--json: merging JSON needs the shards' JSON files".into()).into());
    }
    if let Some(p) = &a.junit {
        writable(p, "--junit")?;
    }
    if let Some(p) = &a.json {
        writable(p, "--json")?;
    }
    let shards = |n: usize| format!("{n} shard file{}", if n == 1 { "" } else { "s" });
    // Both groups are checked before anything is written.
    let junit = if xml.is_empty() {
        None
    } else {
        let n = xml.len();
        Some((n, merge::junit(xml).map_err(|e| BadInput(e.to_string()))?))
    };
    let doc = if json.is_empty() {
        None
    } else {
        let n = json.len();
        Some((n, merge::docs(json).map_err(|e| BadInput(e.to_string()))?))
    };
    let mut passed = true;
    if let Some((n, (text, scenes, failed))) = &junit {
        println!(
            "junit: {} merged: {scenes} scenes, {} passed, {failed} failed",
            shards(*n),
            scenes - failed
        );
        passed &= *failed == 0;
        if let Some(p) = &a.junit {
            std::fs::write(p, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
            println!("junit: {}", p.display());
        }
    }
    if let Some((n, d)) = &doc {
        match d {
            Doc::Test(t) => {
                let failed: Vec<_> = t.scenes.iter().filter(|s| s.result != "PASS").collect();
                println!(
                    "test: {} merged (plan {}): {} scenes, {} passed, {} failed",
                    shards(*n),
                    t.plan,
                    t.scenes.len(),
                    t.scenes.len() - failed.len(),
                    failed.len()
                );
                for s in failed {
                    println!("  {} {}  {}", s.result, s.file, s.first_failure);
                }
            }
            Doc::Fuzz(z) => {
                println!("fuzz-faults: {} merged (plan {})", shards(*n), z.plan);
                print!("{}", campaign::fuzz::summary(z, None));
            }
        }
        passed &= d.passed();
        if let Some(p) = &a.json {
            std::fs::write(p, d.to_json())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
            println!("json: {}", p.display());
        }
    }
    println!("{}", if passed { "PASSED" } else { "FAILED" });
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
