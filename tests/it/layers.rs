//! The layering rule of ARCHITECTURE.md, enforced: every file under src/ is placed in
//! a layer by its module path (the table in ARCHITECTURE.md is the only place the
//! order is written), and a file never names a module of a higher layer. Modules of
//! one layer may use each other, but never in a cycle. A violation names the file,
//! the line and both layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer table: (module path, layer index), read from ARCHITECTURE.md's "Layers"
/// section (rows `| N name | `mod`, `mod::sub` |`).
fn layer_table() -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md is readable (it holds the layer table)");
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let mut table = Vec::new();
    for line in section.lines() {
        let Some(row) = line.strip_prefix("| ") else {
            continue;
        };
        let mut cells = row.split('|');
        let (Some(first), Some(mods)) = (cells.next(), cells.next()) else {
            continue;
        };
        let Some(Ok(layer)) = first.split_whitespace().next().map(str::parse::<usize>) else {
            continue;
        };
        for m in mods.split('`').skip(1).step_by(2) {
            table.push((m.to_string(), layer));
        }
    }
    assert!(
        table.len() >= 10,
        "the layer table in ARCHITECTURE.md looks empty: {table:?}"
    );
    table
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module path of a source file: src/a/b.rs -> a::b, src/a/mod.rs -> a,
/// src/main.rs -> main, src/suite.rs (a module of the binary) -> suite.
fn module_of(file: &Path) -> String {
    let rel = file
        .strip_prefix(root().join("src"))
        .expect("file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The table entry a module path falls under: the longest listed prefix.
fn place<'a>(table: &'a [(String, usize)], module: &str) -> Option<&'a (String, usize)> {
    table
        .iter()
        .filter(|(m, _)| module == m || module.starts_with(&format!("{m}::")))
        .max_by_key(|(m, _)| m.len())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ readable")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Module paths named on a line of code: `crate::a::b`, `armhil::a::b` (the binary's
/// modules), `super::a` and `self::a` resolved against `module`.
fn named_modules(line: &str, module: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    for prefix in ["crate::", "armhil::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = line[from..].find(prefix) {
            let start = from + k;
            from = start + prefix.len();
            // Only whole words: not `my_crate::`.
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let mut base: Vec<String> = match prefix {
                "super::" => {
                    let mut m: Vec<String> = module.split("::").map(String::from).collect();
                    m.pop();
                    // `super::super::x`
                    let mut rest = &line[from..];
                    while let Some(r) = rest.strip_prefix("super::") {
                        m.pop();
                        rest = r;
                        from += "super::".len();
                    }
                    m
                }
                "self::" => module.split("::").map(String::from).collect(),
                _ => Vec::new(),
            };
            base.retain(|s| !s.is_empty());
            // Lower-case segments are modules; stop at a type, a brace or a glob.
            for seg in line[from..].split("::") {
                let word: String = seg
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if word.is_empty() || !word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                    break;
                }
                let whole = word.len() == seg.len();
                base.push(word);
                if !whole {
                    break;
                }
            }
            if !base.is_empty() {
                out.push(base.join("::"));
            }
        }
    }
    out
}

#[test]
fn no_module_names_a_higher_layer_and_no_layer_has_a_cycle() {
    let table = layer_table();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 50, "src/ has {} files", files.len());
    let mut problems = Vec::new();
    // Edges between table entries of the same layer, for the cycle check.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        if module == "lib" {
            continue; // only declares the modules
        }
        let rel = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        let Some((home, layer)) = place(&table, &module) else {
            problems.push(format!(
                "{rel}: module `{module}` has no layer: add it to ARCHITECTURE.md's table"
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source readable");
        // An inline module (`mod tests {`) changes what `super` means.
        let mut scope = module.clone();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if let Some(name) = code
                .strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(" {"))
                .filter(|r| r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                scope = format!("{module}::{name}");
            }
            let code = code.split(" //").next().unwrap_or(code);
            for named in named_modules(code, &scope) {
                let Some((to, their)) = place(&table, &named) else {
                    continue; // a name inside the same file or an extern path
                };
                if their > layer {
                    problems.push(format!(
                        "{rel}:{}: `{module}` (layer {layer}) names `{named}` (layer {their}): {}",
                        n + 1,
                        code.trim()
                    ));
                } else if their == layer && to != home {
                    edges.entry(home.clone()).or_default().insert(to.clone());
                }
            }
        }
    }
    // Cycles within a layer: depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        if let Some(k) = path.iter().position(|p| p == n) {
            let mut cycle = path[k..].to_vec();
            cycle.push(n.to_string());
            found.push(cycle.join(" -> "));
            return;
        }
        if !done.insert(n.to_string()) {
            return;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, path, done, found);
        }
        path.pop();
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, &edges, &mut Vec::new(), &mut done, &mut found);
    }
    for c in found {
        problems.push(format!("modules of one layer form a cycle: {c}"));
    }
    assert!(
        problems.is_empty(),
        "layering violations (ARCHITECTURE.md, Layers):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_layer_check_sees_a_violation() {
    // The scanner itself: a scene file naming the runtime is caught, `super` resolves.
    let table = layer_table();
    let named = named_modules(
        "use crate::runtime::plant::Plant; let x = super::super::sys::clock::now();",
        "scene::validate::arm",
    );
    assert_eq!(named, vec!["runtime::plant", "scene::sys::clock::now"]);
    let scene = place(&table, "scene::validate::arm")
        .expect("scene placed")
        .1;
    let runtime = place(&table, "runtime::plant").expect("runtime placed").1;
    assert!(runtime > scene);
    assert_eq!(
        place(&table, "servo::spec").map(|p| p.0.as_str()),
        Some("servo::spec")
    );
    assert_eq!(
        place(&table, "servo::thermal").map(|p| p.0.as_str()),
        Some("servo")
    );
    assert!(named_modules("let v = my_crate::runtime::x;", "scene").is_empty());
}
