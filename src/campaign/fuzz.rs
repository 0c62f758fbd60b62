//! The summary of a fault-fuzzing campaign (one shard or merged): totals, the
//! per-kind detection and recovery table, and how to replay each failing seed.
//! `armhil fuzz-faults` and `armhil merge` print the same text, computed here from
//! the seeds' outcomes alone.

use std::fmt::Write;

use super::FuzzDoc;
use crate::faults::{FaultKind, ServoErrorBit};

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The kinds in the table, in order.
fn kinds() -> [FaultKind; 12] {
    [
        FaultKind::Panic,
        FaultKind::Hang,
        FaultKind::Slow { ms: 0.0 },
        FaultKind::EncoderStuck,
        FaultKind::EncoderNoise { sigma_rad: 0.0 },
        FaultKind::EncoderOffset { rad: 0.0 },
        FaultKind::TorqueSag { factor: 0.0 },
        FaultKind::ServoError {
            bit: ServoErrorBit::Overload,
        },
        FaultKind::PowerLoss,
        FaultKind::Jam,
        FaultKind::Abort,
        FaultKind::Crash,
    ]
}

/// The campaign's summary; at most `list` failing seeds are listed (all if `None`).
pub fn summary(d: &FuzzDoc, list: Option<usize>) -> String {
    let mut o = String::new();
    let failing: Vec<_> = d
        .outcomes
        .iter()
        .filter(|x| !x.violations.is_empty())
        .collect();
    let faults_total: usize = d.outcomes.iter().map(|x| x.faults.len()).sum();
    let shard = if d.shard.total > 1 {
        format!(" shard {}", d.shard)
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "fuzz-faults {}{shard}: {} seeds ({}..={}), {faults_total} faults, {} seeds with violations, {} violations",
        d.scene,
        d.outcomes.len(),
        d.first_seed,
        d.last_seed,
        failing.len(),
        failing.iter().map(|x| x.violations.len()).sum::<usize>()
    );
    let _ = writeln!(
        o,
        "healthy joints' deadline misses during faults: {}",
        d.outcomes.iter().map(|x| x.healthy_misses).sum::<u64>()
    );
    let _ = writeln!(
        o,
        "{:<16} {:>7} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "kind", "faults", "det p50", "det p99", "det max", "recovery p50", "recovery max"
    );
    let _ = writeln!(
        o,
        "{:<16} {:>7} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "", "", "(T)", "(T)", "(T)", "(ms)", "(ms)"
    );
    for k in kinds() {
        let name = k.name();
        let n = d
            .outcomes
            .iter()
            .flat_map(|x| &x.faults)
            .filter(|f| f.kind.name() == name)
            .count();
        // Jams are drawn only on scenes with a world, aborts and crashes only on
        // services in their own processes.
        if n == 0 && matches!(k, FaultKind::Jam | FaultKind::Abort | FaultKind::Crash) {
            continue;
        }
        let mut det: Vec<f64> = d
            .outcomes
            .iter()
            .flat_map(|x| &x.detections)
            .filter(|(kk, _)| kk == name)
            .map(|(_, l)| *l)
            .collect();
        let mut rec: Vec<f64> = d
            .outcomes
            .iter()
            .flat_map(|x| &x.recoveries)
            .filter(|(kk, _)| kk == name)
            .map(|(_, r)| r * 1e3)
            .collect();
        let _ = writeln!(
            o,
            "{name:<16} {n:>7} {:>9.2} {:>9.2} {:>9.2} {:>13.1} {:>13.1}",
            pct(&mut det, 0.5),
            pct(&mut det, 0.99),
            pct(&mut det, 1.0),
            pct(&mut rec, 0.5),
            pct(&mut rec, 1.0)
        );
    }
    let shown = list.unwrap_or(usize::MAX);
    for x in failing.iter().take(shown) {
        let _ = writeln!(o, "seed {} FAILED:", x.seed);
        for v in &x.violations {
            let _ = writeln!(o, "  - {v}");
        }
        let _ = writeln!(
            o,
            "  replay: armhil fuzz-faults {} --seeds {}",
            d.scene, x.seed
        );
        let _ = writeln!(o, "      or: {}", x.replay);
    }
    if failing.len() > shown {
        let _ = writeln!(o, "... and {} more failing seeds", failing.len() - shown);
    }
    o
}
