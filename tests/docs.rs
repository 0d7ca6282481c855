//! The documentation holds together: the README stays short enough to read
//! in one sitting and opens with the way in for the two old scripts' users;
//! every relative link in the README and `docs/` reaches a file (and a
//! heading, for `#anchor` links into Markdown); every man page a page names
//! exists in `man/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const README_MAX_LINES: usize = 450;
/// Prose wraps near 80 columns; tables and console output run longer, but
/// nothing should be a paragraph on one line.
const MAX_LINE_CHARS: usize = 400;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The README and every page under `docs/` (and a root ARCHITECTURE.md or
/// CONTRIBUTING.md, should one appear).
fn pages() -> Vec<PathBuf> {
    let root = root();
    let mut pages = vec![root.join("README.md")];
    for extra in ["ARCHITECTURE.md", "CONTRIBUTING.md"] {
        if root.join(extra).exists() {
            pages.push(root.join(extra));
        }
    }
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks, as (line number, line) with inline
/// code spans removed.
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut kept = String::new();
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                kept.push(c);
            }
        }
        out.push((i + 1, kept));
    }
    out
}

/// The targets of the Markdown links `[text](target)` in one line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                targets.push(after[..end].trim().to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-`
/// and `_` dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (a repeated heading gets
/// `-1`, `-2`, … as on GitHub).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base = slug(title);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// Every broken relative link of `page`, described.
fn broken_links(page: &Path) -> Vec<String> {
    let text = read(page);
    let dir = page.parent().unwrap();
    let mut broken = Vec::new();
    for (n, line) in prose(&text) {
        for target in link_targets(&line) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.to_path_buf()
            } else {
                dir.join(file)
            };
            let at = format!("{}:{n}: ({target})", page.display());
            if !path.exists() {
                broken.push(format!("{at}: no file {}", path.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if path.extension().is_some_and(|x| x == "md")
                    && !anchors(&read(&path)).contains(anchor)
                {
                    broken.push(format!("{at}: no heading #{anchor} in {}", path.display()));
                }
            }
        }
    }
    broken
}

/// The man pages `text` names: `lmguard(1)` and `lmguard-<command>(1)`,
/// also as roff writes them (`lmguard\-help(1)`, `\fBlmguard\fR(1)`).
fn named_man_pages(text: &str) -> BTreeSet<String> {
    let text = text
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "");
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("(1)") {
        let before = &text[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        if name == "lmguard" || name.starts_with("lmguard-") {
            names.insert(name.to_string());
        }
    }
    names
}

#[test]
fn the_readme_is_read_in_one_sitting() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: move the detail into docs/"
    );
    let first_screen: String = readme.lines().take(25).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("(docs/migrating.md)"),
        "the first screen of the README links the migration from the Python scripts"
    );
    for command in ["cargo run --example demo", "cargo test --workspace"] {
        assert!(readme.contains(command), "the README shows `{command}`");
    }
}

#[test]
fn no_page_has_a_paragraph_on_one_line() {
    let mut long = Vec::new();
    for page in pages() {
        for (i, line) in read(&page).lines().enumerate() {
            let n = line.chars().count();
            if n > MAX_LINE_CHARS {
                long.push(format!("{}:{}: {n} characters", page.display(), i + 1));
            }
        }
    }
    assert!(long.is_empty(), "wrap these lines:\n{}", long.join("\n"));
}

#[test]
fn every_relative_link_reaches_a_file_and_heading() {
    let broken: Vec<String> = pages().iter().flat_map(|p| broken_links(p)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_man_page_named_exists() {
    let man = root().join("man");
    let mut sources = pages();
    let mut pages_in_man: Vec<PathBuf> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages_in_man.sort();
    sources.extend(pages_in_man);
    let mut missing = Vec::new();
    let mut named = 0;
    for source in sources {
        for name in named_man_pages(&read(&source)) {
            named += 1;
            if !man.join(format!("{name}.1")).exists() {
                missing.push(format!("{} names {name}(1)", source.display()));
            }
        }
    }
    assert!(
        named > 0,
        "no man page named anywhere: the search is broken"
    );
    assert!(
        missing.is_empty(),
        "no such page in man/:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checks_themselves_see_what_they_look_for() {
    // A link, an anchor and a man page name, found as the tests above
    // expect, so that a broken parser cannot pass them vacuously.
    assert_eq!(
        link_targets("see [a](docs/x.md#y) and [b](https://e.org) `[c](no.md)`"),
        ["docs/x.md#y", "https://e.org", "no.md"]
    );
    assert_eq!(
        prose("a `[c](no.md)` b\n```\n[d](e.md)\n```\n")[0].1,
        "a  b"
    );
    assert_eq!(
        slug(" Check the set-up: `lmguard check --probe`"),
        "check-the-set-up-lmguard-check---probe"
    );
    assert_eq!(
        slug("Migrating from lm-block.py / lm-timeout.py"),
        "migrating-from-lm-blockpy--lm-timeoutpy"
    );
    let both = anchors("# A\n## A\n```\n# B\n```\n");
    assert_eq!(
        both,
        ["a".to_string(), "a-1".to_string()].into_iter().collect()
    );
    assert_eq!(
        named_man_pages("see lmguard\\-help(1), \\fBlmguard\\fR(1) and lmguard-block(1); pipe(1)"),
        ["lmguard", "lmguard-block", "lmguard-help"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
