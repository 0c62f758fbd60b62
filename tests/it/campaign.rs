//! Campaigns in shards (`--shard`), merged (`armhil merge`): N shard processes run
//! here give, merged, what the unsharded run gives, item for item; inputs that are
//! not one complete campaign are refused (exit 2); `--shard auto` reads each
//! scheduler's variables; and the job files in deploy/ parse and their armhil
//! command lines are accepted (`--dry-run`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use armhil::campaign::Doc;

use crate::common::*;

/// The scheduler variables a test must not inherit from whatever runs it.
const SCHEDULER_VARS: [&str; 10] = [
    "TEST_SHARD_INDEX",
    "TEST_TOTAL_SHARDS",
    "TEST_SHARD_STATUS_FILE",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "JOB_COMPLETION_INDEX",
];

fn cmd() -> Command {
    let mut c = armhil();
    for v in SCHEDULER_VARS {
        c.env_remove(v);
    }
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A suite of five short lockstep scenes, one of which fails.
fn suite(dir: &Path) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(&suite).expect("mkdir");
    for (name, body) in [
        (
            "a_panic",
            "    duration_s: 1.5,\n    faults: [(at: 0.5, joint: \"elbow_pitch\", kind: Panic)],",
        ),
        (
            "b_hang",
            "    duration_s: 1.5,\n    faults: [(at: 0.5, joint: \"wrist_roll\", kind: Hang)],",
        ),
        ("c_quiet", "    duration_s: 1.0,"),
        (
            "d_power",
            "    duration_s: 1.5,\n    faults: [(at: 0.5, until: 0.8, joint: \"base_yaw\", kind: PowerLoss)],",
        ),
        (
            "e_fails",
            "    duration_s: 1.0,\n    expect: [Tracking(joints: All, rms_below: 0.000001)],",
        ),
    ] {
        scenario(&suite, name, "scenes/arm6.ron", body);
    }
    suite
}

fn doc(p: &Path) -> Doc {
    let mut d = Doc::parse(&std::fs::read_to_string(p).expect("json")).expect("a shard document");
    // Wall time is the one figure a rerun may change.
    if let Doc::Test(t) = &mut d {
        for s in &mut t.scenes {
            s.wall_time_s = 0.0;
        }
    }
    d
}

/// A JUnit document without its times: (report name, per suite (name, cases with
/// their status)).
fn junit(p: &Path) -> (String, Vec<(String, Vec<String>)>) {
    let r = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(p).expect("xml"))
        .expect("JUnit");
    let suites = r
        .test_suites
        .iter()
        .map(|s| {
            let cases = s
                .test_cases
                .iter()
                .map(|c| format!("{} {:?}", c.name.as_str(), c.status))
                .collect();
            (s.name.as_str().to_string(), cases)
        })
        .collect();
    (
        r.name.map(|n| n.as_str().to_string()).unwrap_or_default(),
        suites,
    )
}

#[test]
fn three_shards_merged_equal_the_unsharded_run_item_for_item() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = suite(dir.path());
    let out = |name: &str| dir.path().join(name);
    // The unsharded run.
    let all = cmd()
        .arg("test")
        .arg(&suite)
        .args(["--jobs", "1", "--junit"])
        .arg(out("all.xml"))
        .arg("--json")
        .arg(out("all.json"))
        .output()
        .expect("spawn");
    assert_eq!(all.status.code(), Some(1), "{}", text(&all));
    // Three shard processes at once, as a scheduler starts them.
    let shards: Vec<_> = (1..=3)
        .map(|k| {
            cmd()
                .arg("test")
                .arg(&suite)
                .args(["--jobs", "1", "--shard", &format!("{k}/3"), "--junit"])
                .arg(out(&format!("s{k}.xml")))
                .arg("--json")
                .arg(out(&format!("s{k}.json")))
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut ran = 0;
    for (k, c) in shards.into_iter().enumerate() {
        let o = c.wait_with_output().expect("wait");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "shard {}: {}",
            k + 1,
            text(&o)
        );
        let Doc::Test(d) = doc(&out(&format!("s{}.json", k + 1))) else {
            panic!("a test document");
        };
        // Each shard's output names its shard.
        assert_eq!(d.shard.to_string(), format!("{}/3", k + 1));
        assert_eq!(d.items_total, 5);
        ran += d.scenes.len();
    }
    assert_eq!(ran, 5, "every scene in exactly one shard");
    let merged = cmd()
        .arg("merge")
        .args((1..=3).map(|k| out(&format!("s{k}.xml"))))
        .args((1..=3).map(|k| out(&format!("s{k}.json"))))
        .arg("--junit")
        .arg(out("merged.xml"))
        .arg("--json")
        .arg(out("merged.json"))
        .output()
        .expect("spawn");
    let t = text(&merged);
    assert_eq!(merged.status.code(), Some(1), "{t}");
    assert!(t.contains("5 scenes, 4 passed, 1 failed"), "{t}");
    assert!(t.contains("e_fails.ron"), "{t}");
    assert_eq!(doc(&out("merged.json")), doc(&out("all.json")));
    assert_eq!(junit(&out("merged.xml")), junit(&out("all.xml")));

    // Fault fuzzing: the same, with the per-kind tables recomputed over all shards.
    let fuzz_seeds = |seeds: &str, extra: &[&str], json: &str| {
        cmd()
            .args([
                "fuzz-faults",
                "scenes/arm6.ron",
                "--seeds",
                seeds,
                "--duration",
                "1",
            ])
            .args(["--jobs", "1", "--json"])
            .arg(out(json))
            .args(extra)
            .output()
            .expect("spawn")
    };
    let fuzz = |extra: &[&str], json: &str| fuzz_seeds("1..12", extra, json);
    let whole = fuzz(&[], "fuzz.json");
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole));
    for k in 1..=3 {
        let o = fuzz(&["--shard", &format!("{k}/3")], &format!("f{k}.json"));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&format!(" shard {k}/3: ")),
            "{}",
            text(&o)
        );
    }
    let merged = cmd()
        .arg("merge")
        .args((1..=3).map(|k| out(&format!("f{k}.json"))))
        .arg("--json")
        .arg(out("fuzz-merged.json"))
        .output()
        .expect("spawn");
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    assert_eq!(doc(&out("fuzz-merged.json")), doc(&out("fuzz.json")));
    // The printed tables are the unsharded run's, line for line.
    let table = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.starts_with("fuzz-faults scenes/arm6.ron"))
            .take_while(|l| !l.starts_with("json:"))
            .map(str::to_string)
            .collect()
    };
    let unsharded = table(&text(&whole));
    assert!(unsharded.len() > 5, "{unsharded:?}");
    assert_eq!(table(&text(&merged)), unsharded);

    // Not one complete campaign: exit 2, and why.
    let refused = |files: &[&str], why: &str| {
        let o = cmd()
            .arg("merge")
            .args(files.iter().map(|f| out(f)))
            .output()
            .expect("spawn");
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(why), "{why}: {}", text(&o));
    };
    refused(&["f1.json", "f3.json"], "missing shards: 2/3");
    refused(
        &["f1.json", "f2.json", "f2.json", "f3.json"],
        "shard 2/3 is given twice",
    );
    refused(
        &["f1.json", "f2.json", "s3.json"],
        "others from `armhil fuzz-faults`",
    );
    let other = fuzz_seeds("1..13", &["--shard", "3/3"], "other.json");
    assert_eq!(other.status.code(), Some(0), "{}", text(&other));
    refused(&["f1.json", "f2.json", "other.json"], "different campaigns");
    refused(&["s1.xml", "s2.xml"], "missing shards: 3/3");
}

#[test]
fn shard_auto_reads_each_schedulers_variables_and_says_what_it_looked_for() {
    let dry = |vars: &[(&str, &str)], shard: &str| {
        let mut c = cmd();
        c.args([
            "fuzz-faults",
            "scenes/arm6.ron",
            "--seeds",
            "1..100",
            "--dry-run",
        ])
        .args(["--shard", shard]);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().expect("spawn")
    };
    for (vars, shard, says) in [
        (
            &[("JOB_COMPLETION_INDEX", "2")][..],
            "auto/4",
            "shard 3/4 (Kubernetes's variables)",
        ),
        (
            &[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ][..],
            "auto",
            "shard 1/4 (Slurm's variables)",
        ),
        (
            &[("CI_NODE_INDEX", "4"), ("CI_NODE_TOTAL", "4")][..],
            "auto",
            "shard 4/4 (GitLab's variables)",
        ),
        (
            &[("TEST_SHARD_INDEX", "1"), ("TEST_TOTAL_SHARDS", "4")][..],
            "auto",
            "shard 2/4 (Bazel's variables)",
        ),
        (&[][..], "2/4", "shard 2/4 (--shard)"),
    ] {
        let o = dry(vars, shard);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains(says), "{says}: {}", text(&o));
    }
    // The four shards' seeds are the 100 seeds, each once.
    let mut seeds: Vec<u64> = Vec::new();
    for k in 1..=4 {
        let o = cmd()
            .args([
                "fuzz-faults",
                "scenes/arm6.ron",
                "--seeds",
                "1..100",
                "--dry-run",
            ])
            .args(["--shard", &format!("{k}/4")])
            .output()
            .expect("spawn");
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        let n: usize = t
            .split(": ")
            .nth(1)
            .and_then(|x| x.split(' ').next())
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("{t}"));
        let owned: Vec<u64> = (1..=100)
            .filter(|s| armhil::campaign::Shard { index: k, total: 4 }.owns(&s.to_string()))
            .collect();
        assert_eq!(n, owned.len(), "{t}");
        seeds.extend(owned);
    }
    seeds.sort_unstable();
    assert_eq!(seeds, (1..=100).collect::<Vec<_>>());
    // Bazel's status file is touched.
    let dir = tempfile::tempdir().expect("tempdir");
    let status = dir.path().join("status");
    let status_s = status.display().to_string();
    let o = dry(
        &[
            ("TEST_SHARD_INDEX", "0"),
            ("TEST_TOTAL_SHARDS", "2"),
            ("TEST_SHARD_STATUS_FILE", &status_s),
        ],
        "auto",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(status.exists());
    // Nothing usable: exit 2 naming what it looked for; Kubernetes alone needs a total.
    let o = dry(&[], "auto");
    assert_eq!(o.status.code(), Some(2));
    for v in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "CI_NODE_INDEX",
        "TEST_SHARD_INDEX",
    ] {
        assert!(text(&o).contains(v), "{v}: {}", text(&o));
    }
    let o = dry(&[("JOB_COMPLETION_INDEX", "0")], "auto");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("use --shard auto/N"), "{}", text(&o));
    let o = dry(&[], "5/4");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// The scheduler variables each deploy file's jobs see, for its dry runs.
fn scheduler_of(file: &str) -> (&'static [(&'static str, &'static str)], &'static str) {
    match file {
        "kubernetes-fuzz.yaml" => (
            &[("JOB_COMPLETION_INDEX", "7")],
            "shard 8/100 (Kubernetes's variables)",
        ),
        "slurm-fuzz.sh" => (
            &[
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "100"),
                ("SLURM_CPUS_PER_TASK", "2"),
            ],
            "shard 6/100 (Slurm's variables)",
        ),
        "gitlab-ci.yml" => (
            &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")],
            "shard 2/4 (GitLab's variables)",
        ),
        "github-actions.yml" => (&[], "shard 1/4 (--shard)"),
        other => panic!("deploy/{other}: which scheduler runs it?"),
    }
}

#[test]
fn the_deploy_files_parse_and_the_cli_accepts_their_command_lines() {
    let yaml = python_packages("pyyaml", "yaml", &["PyYAML"]);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_armhil"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy"))
        .expect("deploy/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parses = if name.ends_with(".sh") {
            Command::new("bash").arg("-n").arg(f).status()
        } else {
            Command::new("python3")
                .args([
                    "-c",
                    "import sys, yaml; list(yaml.safe_load_all(open(sys.argv[1])))",
                ])
                .arg(f)
                .env("PYTHONPATH", &yaml)
                .status()
        };
        assert!(parses.is_ok_and(|s| s.success()), "{name} does not parse");
        let (vars, says) = scheduler_of(&name);
        let body = std::fs::read_to_string(f).expect("read");
        let lines: Vec<String> = body
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.find("armhil ").map(|i| l[i..].to_string()))
            .filter(|l| {
                l.starts_with("armhil test ")
                    || l.starts_with("armhil fuzz-faults ")
                    || l.starts_with("armhil merge ")
            })
            .map(|l| {
                l.split(" || ")
                    .next()
                    .unwrap_or("")
                    .replace("${{ matrix.shard }}", "1")
            })
            .collect();
        assert!(!lines.is_empty(), "{name}: no armhil command line");
        for line in lines {
            let dry = !line.starts_with("armhil merge ");
            let full = if dry {
                format!("{line} --dry-run")
            } else {
                line.clone()
            };
            let mut c = Command::new("bash");
            c.args(["-c", &full]).current_dir(root()).env("PATH", &path);
            for v in SCHEDULER_VARS {
                c.env_remove(v);
            }
            for (k, v) in vars {
                c.env(k, v);
            }
            let o = c.output().expect("bash");
            if dry {
                assert_eq!(o.status.code(), Some(0), "{name}: {line}: {}", text(&o));
                assert!(text(&o).contains(says), "{name}: {line}: {}", text(&o));
            } else {
                // Accepted by the argument parser (clap would print its usage); the
                // shards' files are not here, which merge reports as bad input.
                assert_eq!(o.status.code(), Some(2), "{name}: {line}: {}", text(&o));
                assert!(
                    text(&o).contains("cannot read") && !text(&o).contains("Usage:"),
                    "{name}: {line}: {}",
                    text(&o)
                );
            }
        }
    }
}
