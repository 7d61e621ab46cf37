//! The layout's invariants (ARCHITECTURE.md), checked on the source text:
//! imports go one way between the domain folders, no file imports another
//! that imports it back, nothing in the library reaches into the binary's
//! `cli`, every module opens with a `//!` paragraph, and no function is
//! longer than a screen unless a comment says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as (module path, text before `#[cfg(test)]`).
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap().to_string();
            (parts.join("::"), code)
        })
        .collect()
}

/// The module a path such as `crate::a::b::Item` lives in: the longest known prefix.
fn resolve(path: &[&str], known: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| known.contains_key(m))
}

/// Which other modules each module refers to: `crate::…`, `super::…`, and
/// its own child modules by name (`chain::verify_chain`, `pub use packet::*`).
fn edges(known: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let path_re = |text: &str| -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':') {
                i += 1;
            }
            if i > start {
                let tok = &text[start..i];
                if tok.contains("::") {
                    out.push(tok.split("::").filter(|s| !s.is_empty()).map(String::from).collect());
                }
            } else {
                i += 1;
            }
        }
        out
    };
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, text) in known {
        let own: Vec<&str> = if m.is_empty() { vec![] } else { m.split("::").collect() };
        let mut to = BTreeSet::new();
        for path in path_re(text) {
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            let full: Vec<&str> = match p.first().copied() {
                Some("crate") => p[1..].to_vec(),
                Some("super") => {
                    let parent = &own[..own.len().saturating_sub(1)];
                    parent.iter().copied().chain(p[1..].iter().copied()).collect()
                }
                Some(first) if known.contains_key(&own.iter().copied().chain([first]).collect::<Vec<_>>().join("::")) => {
                    own.iter().copied().chain(p.iter().copied()).collect()
                }
                _ => continue,
            };
            if let Some(target) = resolve(&full, known) {
                if &target != m && !target.is_empty() {
                    to.insert(target);
                }
            }
        }
        g.insert(m.clone(), to);
    }
    g
}

#[test]
fn no_import_circle_between_files() {
    let known = modules();
    let mut g = edges(&known);
    // The one allowed two-way dependency: `error.rs` gathers every module's
    // error enum into `Error`, which the modules that span several domains
    // return. Edges into `error` are left out; every other circle fails.
    for to in g.values_mut() {
        to.remove("error");
    }
    // Depth-first search for a back edge, reporting the circle it closes.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for n in g.get(m).into_iter().flatten() {
            match state.get(n.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == n).unwrap();
                    let mut circle = stack[at..].to_vec();
                    circle.push(n.clone());
                    return Some(circle);
                }
                0 => {
                    if let Some(c) = visit(n, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(circle) = visit(m, &g, &mut state, &mut stack) {
                panic!("import circle between files: {}", circle.join(" → "));
            }
        }
    }
    // The walk must see real edges, or it proves nothing.
    assert!(g["release::cycle"].contains("release::commit"), "{:?}", g["release::cycle"]);
    assert!(g["release::log"].contains("release::log::chain"));
    assert!(g["release::audit"].contains("release::log::chain"));
}

#[test]
fn domain_folders_import_one_way() {
    // release → approval → evidence → replay → store: a folder never names one to its left.
    let order = ["store", "replay", "evidence", "approval", "release"];
    let known = modules();
    let g = edges(&known);
    let rank = |m: &str| order.iter().position(|o| m == *o || m.starts_with(&format!("{o}::")));
    for (m, to) in &g {
        let Some(from) = rank(m) else { continue };
        for t in to {
            if let Some(r) = rank(t) {
                assert!(
                    r <= from,
                    "{m} imports {t}: imports go release → approval → evidence → replay → store"
                );
            }
        }
    }
    for (m, text) in &known {
        if m != "main" && !m.starts_with("cli") {
            assert!(!text.contains("crate::cli"), "{m} reaches into the binary's cli");
        }
    }
}

#[test]
fn every_module_opens_with_a_paragraph_saying_what_it_owns() {
    for (m, text) in modules() {
        assert!(text.trim_start().starts_with("//!"), "src module `{m}` has no `//!` paragraph");
    }
}

/// Functions longer than this need a comment saying why (a hot loop measured faster whole).
const MAX_FUNCTION_LINES: usize = 100;

#[test]
fn no_function_longer_than_a_screen() {
    let mut long = Vec::new();
    for (m, text) in modules() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn "]
                .iter()
                .any(|p| t.starts_with(p));
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            let Some(end) = (i + 1..lines.len()).find(|&j| lines[j] == close) else {
                continue;
            };
            let excused = i > 0 && lines[i - 1].contains("Long by design:");
            if end - i + 1 > MAX_FUNCTION_LINES && !excused {
                long.push(format!("{m}:{} ({} lines)", i + 1, end - i + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over {MAX_FUNCTION_LINES} lines: {long:?}");
}
