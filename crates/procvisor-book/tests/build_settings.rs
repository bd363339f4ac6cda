//! The book's recommended build settings (`performance.md`, "Build settings") are the ones its
//! numbers were measured with: the workspace's `release-lto` profile.

use std::path::Path;

/// The `key = value` lines of the first `toml` listing after `heading` in `markdown`.
fn listing_after(markdown: &str, heading: &str) -> Vec<String> {
    let section = markdown
        .split_once(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in the chapter"))
        .1;
    let listing = section
        .split_once("```toml\n")
        .expect("a toml listing in the section")
        .1
        .split_once("```")
        .expect("the listing ends")
        .0;
    listing
        .lines()
        .filter(|line| line.contains(" = "))
        .map(str::to_string)
        .collect()
}

/// The `key = value` lines of table `[name]` in a `Cargo.toml`.
fn table(manifest: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]\n");
    let body = manifest
        .split_once(&header)
        .unwrap_or_else(|| panic!("no {header:?} in the workspace's Cargo.toml"))
        .1;
    body.lines()
        .take_while(|line| !line.starts_with('['))
        .filter(|line| line.contains(" = "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_recommended_settings_are_those_the_numbers_were_measured_with() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chapter = std::fs::read_to_string(root.join("book/src/performance.md")).unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let recommended = listing_after(&chapter, "## Build settings");
    assert_eq!(
        recommended,
        ["lto = \"fat\"", "codegen-units = 1"],
        "the chapter's listing"
    );
    let measured = table(&manifest, "profile.release-lto");
    for setting in &recommended {
        assert!(
            measured.contains(setting),
            "the release-lto profile lacks {setting:?}: {measured:?}"
        );
    }
    assert!(measured.contains(&"inherits = \"release\"".to_string()));
}
