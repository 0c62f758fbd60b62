//! `armhil inspect` and `armhil export`: a recording summarized, or as CSV.
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::BadInput;

pub(super) fn cmd_inspect(file: &Path) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(file).map_err(|e| BadInput(e.to_string()))?;
    println!(
        "{}: {:.3} s, {} channels, {} messages{}",
        file.display(),
        rec.duration_s(),
        rec.channels.len(),
        rec.channels.iter().map(|c| c.messages).sum::<u64>(),
        rec.scene
            .as_ref()
            .map_or(String::new(), |(n, _)| format!(", scene {n}"))
    );
    println!(
        "{:<28} {:<22} {:>9} {:>6} {:>10} {:>10}",
        "channel", "schema", "messages", "gaps", "first (s)", "last (s)"
    );
    for c in &rec.channels {
        println!(
            "{:<28} {:<22} {:>9} {:>6} {:>10.3} {:>10.3}",
            c.topic, c.schema, c.messages, c.gaps, c.first_s, c.last_s
        );
    }
    println!("events: {}", rec.events.len());
    for e in &rec.events {
        println!(
            "  [{:>8.3} s] {:<14} {:<18} {}",
            e.t, e.joint, e.kind, e.detail
        );
    }
    if let Some(t) = &rec.truncated {
        println!("TRUNCATED: read up to the last complete chunk ({t})");
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_export(file: &Path, dir: &Path) -> anyhow::Result<ExitCode> {
    let rec = armhil::recording::read(file).map_err(|e| BadInput(e.to_string()))?;
    let files = armhil::recording::read::export_csv(&rec, dir)
        .with_context(|| format!("writing CSV into {}", dir.display()))?;
    for f in &files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
