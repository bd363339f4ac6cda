//! Copies the book's chapters into `OUT_DIR` with mdBook's `{{#include …}}` directives expanded,
//! so that rustdoc sees, and tests, the same listing a reader of the book sees.
//!
//! Supported, as mdBook reads them: `{{#include path}}`, `{{#include path:anchor}}` (the lines
//! between `ANCHOR: anchor` and `ANCHOR_END: anchor`, without any `ANCHOR` marker lines) and
//! `{{#include path:start:end}}` (1-based lines, either bound may be left out). Paths are
//! relative to the chapter. Anything else that looks like a directive is an error, and so is a
//! chapter that `src/lib.rs` does not name, so that no listing can silently go untested.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = manifest.join("../../book/src");
    println!("cargo::rerun-if-changed={}", src.display());
    let mut chapters: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("reading {}: {e}", src.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    chapters.sort();
    // A chapter that `src/lib.rs` does not name would go untested: refuse to build instead.
    let lib = manifest.join("src/lib.rs");
    println!("cargo::rerun-if-changed={}", lib.display());
    let lib = read(&lib);
    for chapter in chapters {
        println!("cargo::rerun-if-changed={}", chapter.display());
        let name = chapter
            .file_name()
            .and_then(|name| name.to_str())
            .expect("a UTF-8 file name");
        assert!(
            name == "SUMMARY.md" || lib.contains(&format!("\"{name}\"")),
            "book/src/{name} is not a module of procvisor-book: add `chapter!(…, \"{name}\");` to src/lib.rs"
        );
        let text = read(&chapter);
        let expanded = expand(&chapter, &text);
        fs::write(out.join(name), expanded).expect("writing an expanded chapter");
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The chapter with every include directive replaced by what it names.
fn expand(chapter: &Path, text: &str) -> String {
    let mut expanded = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(directive) = trimmed
            .strip_prefix("{{#")
            .and_then(|d| d.strip_suffix("}}"))
        {
            let spec = directive.strip_prefix("include ").unwrap_or_else(|| {
                panic!(
                    "{}: unsupported mdBook directive {trimmed}",
                    chapter.display()
                )
            });
            expanded.push_str(&include(chapter, spec.trim()));
        } else {
            assert!(
                !line.contains("{{#"),
                "{}: an mdBook directive must be alone on its line: {trimmed}",
                chapter.display()
            );
            expanded.push_str(line);
        }
    }
    expanded
}

/// What `{{#include spec}}` in `chapter` stands for, ending with a newline.
fn include(chapter: &Path, spec: &str) -> String {
    let mut parts = spec.splitn(3, ':');
    let file = parts.next().expect("a path");
    let path = chapter
        .parent()
        .expect("the chapter's directory")
        .join(file);
    println!("cargo::rerun-if-changed={}", path.display());
    let text = read(&path);
    let lines: Vec<&str> = text.lines().collect();
    let selected: Vec<&str> = match (parts.next(), parts.next()) {
        (None, None) => lines,
        (Some(anchor), None) if anchor.parse::<usize>().is_err() => {
            let start = format!("ANCHOR: {anchor}");
            let end = format!("ANCHOR_END: {anchor}");
            let first = lines
                .iter()
                .position(|l| l.contains(&start))
                .unwrap_or_else(|| panic!("{}: no `{start}` in {file}", chapter.display()));
            let last = lines[first..]
                .iter()
                .position(|l| l.contains(&end))
                .map(|i| first + i)
                .unwrap_or_else(|| panic!("{}: no `{end}` in {file}", chapter.display()));
            lines[first + 1..last]
                .iter()
                .copied()
                .filter(|l| !l.contains("ANCHOR:") && !l.contains("ANCHOR_END:"))
                .collect()
        }
        (start, end) => {
            let bound = |b: Option<&str>, default: usize| match b {
                None | Some("") => default,
                Some(n) => n
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: bad line number in {spec}", chapter.display())),
            };
            let first = bound(start, 1).max(1) - 1;
            let last = bound(end, lines.len()).min(lines.len());
            lines[first..last].to_vec()
        }
    };
    let mut out = selected.join("\n");
    out.push('\n');
    out
}
