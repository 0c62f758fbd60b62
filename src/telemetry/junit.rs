//! JUnit XML, the test report format CI systems read (GitLab, Jenkins, GitHub
//! actions via reporters), written and read with `quick-junit`: one `<testsuite>`
//! per scene, one `<testcase>` per expectation (or one "every joint healthy" case
//! for a scene without expectations). Each suite carries the scene's place in the
//! campaign (`campaign_index`), so shards merged put them back in order.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::report::Report;

/// One scene's outcome, as `armhil test` saw it.
pub struct SuiteResult<'a> {
    /// Its place in the whole campaign's list of scenes (from 0).
    pub index: usize,
    /// Scene file, as given.
    pub file: String,
    /// The run's report, or why it could not run.
    pub outcome: Result<&'a Report, String>,
}

fn case(file: &str, name: &str, problem: Option<(NonSuccessKind, &str)>) -> TestCase {
    let status = match problem {
        None => TestCaseStatus::success(),
        Some((kind, why)) => {
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(why);
            s
        }
    };
    let mut c = TestCase::new(name, status);
    c.set_classname(file).set_time(Duration::ZERO);
    c
}

/// One scene's suite.
fn suite(r: &SuiteResult) -> TestSuite {
    let mut s = TestSuite::new(r.file.as_str());
    s.add_property(("campaign_index", r.index.to_string().as_str()));
    match &r.outcome {
        Err(e) => {
            s.set_time(Duration::ZERO);
            s.add_test_case(case(&r.file, "run", Some((NonSuccessKind::Error, e))));
        }
        Ok(rep) => {
            s.set_time(Duration::from_secs_f64(rep.wall_time_s.max(0.0)));
            s.add_property(("seed", rep.seed.to_string().as_str()));
            s.add_property(("sim_time_s", rep.sim_time_s.to_string().as_str()));
            let mut cases: Vec<(String, Option<(NonSuccessKind, String)>)> = Vec::new();
            if let Some(a) = &rep.aborted {
                cases.push((
                    "run completed".into(),
                    Some((NonSuccessKind::Failure, a.clone())),
                ));
            }
            if rep.expectations.is_empty() {
                let bad: Vec<String> = rep
                    .joints
                    .iter()
                    .filter(|j| j.state != crate::report::JointHealth::Ok)
                    .map(|j| format!("{} ended {}", j.name, j.state.as_str()))
                    .collect();
                let why = bad.join("; ");
                cases.push((
                    "every joint healthy".into(),
                    (!bad.is_empty()).then_some((NonSuccessKind::Failure, why)),
                ));
            } else {
                for v in &rep.expectations {
                    cases.push((
                        v.expectation.clone(),
                        (!v.passed).then(|| (NonSuccessKind::Failure, v.detail.clone())),
                    ));
                }
            }
            for (name, problem) in cases {
                let p = problem.as_ref().map(|(k, w)| (*k, w.as_str()));
                s.add_test_case(case(&r.file, &name, p));
            }
        }
    }
    s
}

/// The JUnit XML document for a batch of scenes; `name` names the batch (its shard).
pub fn document(results: &[SuiteResult], name: &str) -> String {
    let mut report = JUnit::new(name);
    report.add_test_suites(results.iter().map(suite));
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit XML: {e} -->\n"))
}

/// Reads a JUnit XML document.
pub fn read(text: &str) -> Result<JUnit, String> {
    JUnit::deserialize_from_str(text).map_err(|e| e.to_string())
}

/// Joins suites (of shards) into one document named `name`, in the order given.
pub fn join(name: &str, suites: Vec<TestSuite>) -> String {
    let mut report = JUnit::new(name);
    report.add_test_suites(suites);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit XML: {e} -->\n"))
}

/// A suite's `campaign_index` property, if it has one.
pub fn campaign_index(s: &TestSuite) -> Option<usize> {
    s.properties
        .iter()
        .find(|p| p.name.as_str() == "campaign_index")
        .and_then(|p| p.value.as_str().parse().ok())
}

pub use quick_junit::TestSuite as Suite;
