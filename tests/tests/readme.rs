//! The README's Rust snippets are excerpts of compiled examples: each block marked
//! `<!-- excerpt: PATH -->` must appear, line for line (indentation aside), in PATH.
//! Edit an example and forget the README, and this fails.
#![allow(clippy::expect_used)] // a test: a failure should panic

use std::path::Path;

#[test]
fn readme_snippets_are_excerpts_of_the_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut checked = 0;
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- excerpt:")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(str::trim)
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```rust"),
            "excerpt of {path} must be a ```rust block"
        );
        let snippet: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim() != "```")
            .map(str::trim)
            .collect();
        let source =
            std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let source: Vec<&str> = source.lines().map(str::trim).collect();
        assert!(
            !snippet.is_empty()
                && source
                    .windows(snippet.len())
                    .any(|w| w == snippet.as_slice()),
            "README excerpt is not in {path}:\n{}",
            snippet.join("\n")
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected the three quick-start excerpts, found {checked}"
    );
}
