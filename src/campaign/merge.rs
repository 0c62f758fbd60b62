//! `armhil merge`: shard documents into the campaign's one report. A set of shard
//! documents is merged only if it is one complete campaign: the same armhil version,
//! the same plan (the same scenes, seeds and settings), the same number of shards,
//! every shard exactly once. The merged document is what an unsharded run writes
//! (shard 1/1, items in the campaign's order), wall times aside.

use super::doc::{Doc, FuzzDoc, TestDoc};
use super::{CampaignError, Shard};
use crate::telemetry::junit;

/// What every shard document says about its campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: String,
    pub shard: Shard,
    pub plan: String,
    pub items_total: usize,
}

impl Header {
    /// The name a shard's JUnit document carries (JUnit has no other place for it at
    /// the top): `armhil 0.1.0 shard 3/4 plan 0123456789abcdef items 7`.
    pub fn junit_name(&self) -> String {
        format!(
            "armhil {} shard {} plan {} items {}",
            self.version, self.shard, self.plan, self.items_total
        )
    }

    /// Reads [`Header::junit_name`] back.
    pub fn from_junit_name(name: &str) -> Option<Header> {
        let w: Vec<&str> = name.split_whitespace().collect();
        let [
            "armhil",
            version,
            "shard",
            shard,
            "plan",
            plan,
            "items",
            items,
        ] = w.as_slice()
        else {
            return None;
        };
        let (k, n) = shard.split_once('/')?;
        Some(Header {
            version: version.to_string(),
            shard: Shard {
                index: k.parse().ok()?,
                total: n.parse().ok()?,
            },
            plan: plan.to_string(),
            items_total: items.parse().ok()?,
        })
    }
}

/// Checks that `headers` (with the file each came from) are every shard of one
/// campaign, once.
pub fn check(headers: &[(String, Header)]) -> Result<(), CampaignError> {
    let bad = |s: String| Err(CampaignError::Inconsistent(s));
    let Some((file0, h0)) = headers.first() else {
        return bad("no shard documents".into());
    };
    for (f, h) in headers {
        if h.version != h0.version {
            return bad(format!(
                "{f} was written by armhil {}, {file0} by armhil {}",
                h.version, h0.version
            ));
        }
        if h.plan != h0.plan || h.items_total != h0.items_total {
            return bad(format!(
                "{f} and {file0} are shards of different campaigns (plan {} of {} items vs plan {} of {}): different scenes, seeds or settings",
                h.plan, h.items_total, h0.plan, h0.items_total
            ));
        }
        if h.shard.total != h0.shard.total {
            return bad(format!(
                "{f} is shard {}, {file0} shard {}: different shard counts",
                h.shard, h0.shard
            ));
        }
    }
    let n = h0.shard.total;
    let mut seen: Vec<Option<&str>> = vec![None; n as usize];
    for (f, h) in headers {
        let slot = &mut seen[(h.shard.index - 1) as usize];
        if let Some(other) = slot {
            return bad(format!(
                "shard {} is given twice ({other} and {f}): overlapping shards",
                h.shard
            ));
        }
        *slot = Some(f);
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| seen[(*k - 1) as usize].is_none())
        .map(|k| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        return bad(format!("missing shards: {}", missing.join(", ")));
    }
    Ok(())
}

fn header(d: &Doc) -> Header {
    let (version, shard, plan, items_total) = match d {
        Doc::Test(t) => (&t.armhil_version, t.shard, &t.plan, t.items_total),
        Doc::Fuzz(z) => (&z.armhil_version, z.shard, &z.plan, z.items_total),
    };
    Header {
        version: version.clone(),
        shard,
        plan: plan.clone(),
        items_total,
    }
}

/// The shards' items in the campaign's order (by `key`), each exactly once and all
/// `total` of them: a shard that ran another's items would show here.
fn gather<T>(
    parts: impl Iterator<Item = Vec<T>>,
    key: impl Fn(&T) -> usize,
    total: usize,
) -> Result<Vec<T>, CampaignError> {
    let mut items: Vec<T> = parts.flatten().collect();
    items.sort_by_key(|x| key(x));
    if items.len() != total || items.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
        return Err(CampaignError::Inconsistent(format!(
            "the shards hold {} items (some twice?), the campaign has {total}",
            items.len()
        )));
    }
    Ok(items)
}

/// Merges JSON shard documents (all of `test` or all of `fuzz-faults`).
pub fn docs(docs: Vec<(String, Doc)>) -> Result<Doc, CampaignError> {
    let headers: Vec<(String, Header)> = docs.iter().map(|(f, d)| (f.clone(), header(d))).collect();
    let total = headers.first().map_or(0, |h| h.1.items_total);
    let mut tests = Vec::new();
    let mut fuzzes = Vec::new();
    for (_, d) in docs {
        match d {
            Doc::Test(t) => tests.push(t),
            Doc::Fuzz(z) => fuzzes.push(z),
        }
    }
    if !tests.is_empty() && !fuzzes.is_empty() {
        return Err(CampaignError::Inconsistent(
            "some documents are from `armhil test`, others from `armhil fuzz-faults`".into(),
        ));
    }
    check(&headers)?;
    let (mut tests, mut fuzzes) = (tests.into_iter(), fuzzes.into_iter());
    let merged = if let Some(mut first) = tests.next() {
        let parts =
            std::iter::once(std::mem::take(&mut first.scenes)).chain(tests.map(|t| t.scenes));
        Doc::Test(TestDoc {
            shard: Shard::ALL,
            scenes: gather(parts, |s| s.index, total)?,
            ..first
        })
    } else if let Some(mut first) = fuzzes.next() {
        let parts =
            std::iter::once(std::mem::take(&mut first.outcomes)).chain(fuzzes.map(|z| z.outcomes));
        Doc::Fuzz(FuzzDoc {
            shard: Shard::ALL,
            outcomes: gather(parts, |o| o.seed as usize, total)?,
            ..first
        })
    } else {
        return Err(CampaignError::Inconsistent("no shard documents".into()));
    };
    Ok(merged)
}

/// Merges JUnit shard documents (of `armhil test`) into one JUnit document.
pub fn junit(files: Vec<(String, String)>) -> Result<(String, usize, usize), CampaignError> {
    let mut headers = Vec::new();
    let mut suites = Vec::new();
    for (f, text) in files {
        let r = junit::read(&text).map_err(|why| CampaignError::Unreadable {
            file: f.clone(),
            why,
        })?;
        let name = r
            .name
            .as_ref()
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        let h = Header::from_junit_name(&name).ok_or_else(|| CampaignError::Unreadable {
            file: f.clone(),
            why: format!(
                "the report's name {name:?} is not an armhil shard's (`armhil VERSION shard K/N plan P items M`)"
            ),
        })?;
        suites.extend(r.test_suites);
        headers.push((f, h));
    }
    check(&headers)?;
    let h = &headers[0].1;
    let mut keyed: Vec<(usize, junit::Suite)> = Vec::new();
    for s in suites {
        let Some(k) = junit::campaign_index(&s) else {
            return Err(CampaignError::Inconsistent(format!(
                "suite {:?} has no campaign_index property",
                s.name.as_str()
            )));
        };
        keyed.push((k, s));
    }
    let keyed = gather(std::iter::once(keyed), |(k, _)| *k, h.items_total)?;
    let failed = keyed
        .iter()
        .filter(|(_, s)| s.failures + s.errors > 0)
        .count();
    let merged = Header {
        shard: Shard::ALL,
        ..h.clone()
    };
    let n = keyed.len();
    Ok((
        junit::join(
            &merged.junit_name(),
            keyed.into_iter().map(|x| x.1).collect(),
        ),
        n,
        failed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(version: &str, k: u32, n: u32, plan: &str) -> (String, Header) {
        (
            format!("s{k}.json"),
            Header {
                version: version.into(),
                shard: Shard { index: k, total: n },
                plan: plan.into(),
                items_total: 10,
            },
        )
    }

    fn refused(hs: &[(String, Header)]) -> String {
        match check(hs) {
            Err(CampaignError::Inconsistent(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_every_shard_of_one_campaign_once_is_merged() {
        let ok = [
            h("0.1.0", 2, 3, "p"),
            h("0.1.0", 1, 3, "p"),
            h("0.1.0", 3, 3, "p"),
        ];
        assert_eq!(check(&ok), Ok(()));
        let why = refused(&[h("0.1.0", 1, 2, "p"), h("0.2.0", 2, 2, "p")]);
        assert!(
            why.contains("armhil 0.2.0") && why.contains("armhil 0.1.0"),
            "{why}"
        );
        assert!(
            refused(&[h("0.1.0", 1, 2, "p"), h("0.1.0", 2, 2, "q")])
                .contains("different campaigns")
        );
        assert!(
            refused(&[h("0.1.0", 1, 2, "p"), h("0.1.0", 2, 3, "p")])
                .contains("different shard counts")
        );
        assert!(refused(&[h("0.1.0", 1, 2, "p"), h("0.1.0", 1, 2, "p")]).contains("given twice"));
        assert_eq!(
            refused(&[h("0.1.0", 2, 4, "p")]),
            "missing shards: 1/4, 3/4, 4/4"
        );
    }

    #[test]
    fn a_junit_name_reads_back() {
        let x = h("0.1.0", 3, 4, "0123456789abcdef").1;
        assert_eq!(Header::from_junit_name(&x.junit_name()), Some(x));
        assert_eq!(Header::from_junit_name("armhil"), None);
        assert_eq!(Header::from_junit_name("pytest"), None);
    }
}
