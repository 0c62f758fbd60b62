//! JUnit XML, the test report format CI systems read (GitLab, Jenkins, GitHub
//! actions via reporters): one `<testsuite>` per scene, one `<testcase>` per
//! expectation (or one "healthy run" case for a scene without expectations).

use crate::report::Report;

/// One scene's outcome, as `armhil test` saw it.
pub struct SuiteResult<'a> {
    /// Scene file, as given.
    pub file: String,
    /// The run's report, or why it could not run.
    pub outcome: Result<&'a Report, String>,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// The JUnit XML document for a batch of scenes.
pub fn document(results: &[SuiteResult]) -> String {
    let mut cases_total = 0;
    let mut failures_total = 0;
    let mut errors_total = 0;
    let mut body = String::new();
    for r in results {
        let name = esc(&r.file);
        match &r.outcome {
            Err(e) => {
                cases_total += 1;
                errors_total += 1;
                body.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\" time=\"0\">\n    <testcase classname=\"{name}\" name=\"run\" time=\"0\">\n      <error message=\"{}\"/>\n    </testcase>\n  </testsuite>\n",
                    esc(e)
                ));
            }
            Ok(rep) => {
                let mut cases = Vec::new();
                if let Some(a) = &rep.aborted {
                    cases.push(("run completed".to_string(), Some(a.clone())));
                }
                if rep.expectations.is_empty() {
                    let bad: Vec<String> = rep
                        .joints
                        .iter()
                        .filter(|j| j.state != crate::report::JointHealth::Ok)
                        .map(|j| format!("{} ended {}", j.name, j.state.as_str()))
                        .collect();
                    cases.push((
                        "every joint healthy".into(),
                        (!bad.is_empty()).then(|| bad.join("; ")),
                    ));
                } else {
                    for v in &rep.expectations {
                        cases.push((v.expectation.clone(), (!v.passed).then(|| v.detail.clone())));
                    }
                }
                let failures = cases.iter().filter(|c| c.1.is_some()).count();
                cases_total += cases.len();
                failures_total += failures;
                let time = rep.wall_time_s;
                body.push_str(&format!(
                    "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n",
                    cases.len()
                ));
                body.push_str(&format!(
                    "    <properties><property name=\"seed\" value=\"{}\"/><property name=\"sim_time_s\" value=\"{}\"/></properties>\n",
                    rep.seed, rep.sim_time_s
                ));
                for (case, failure) in cases {
                    body.push_str(&format!(
                        "    <testcase classname=\"{name}\" name=\"{}\" time=\"0\"",
                        esc(&case)
                    ));
                    match failure {
                        None => body.push_str("/>\n"),
                        Some(f) => body.push_str(&format!(
                            ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                            esc(&f)
                        )),
                    }
                }
                body.push_str("  </testsuite>\n");
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"armhil\" tests=\"{cases_total}\" failures=\"{failures_total}\" errors=\"{errors_total}\">\n{body}</testsuites>\n"
    )
}
