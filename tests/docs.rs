//! The documentation's promises: what README.md and the guide (docs/*.md) show works.
//!
//! - Links: every relative link, `[text](path)` or `![alt](path)`, points at a file or
//!   folder that exists, and an `#anchor` (`path.md#anchor`, or `#anchor` within the page)
//!   at a heading of that page, by GitHub's slug rules (lowercase; spaces to `-`; every
//!   other character that is not a letter, a digit, `-` or `_` dropped; a repeated slug
//!   gets `-1`, `-2`, …). Links in code are not links.
//!
//! - TOML: every ```toml block starts with a comment naming the file it is, as a content
//!   folder would hold it (`# Renderfile.toml`, `# projects/demo/project.toml`,
//!   `# models/wav2lip/model.toml`, `# ~/.config/render/engines.toml`), followed by
//!   ` (fragment)` when it is only part of that file. The one exception is an adapter's
//!   block, which is byte for byte its `engines/<name>/engine.toml` and stands for the
//!   machine's engines file. Every block must parse as TOML. Then the blocks of each page,
//!   in order, go into one copy of the repository's demo: a whole file is written at its
//!   path (replacing the demo's), a fragment is merged into the file at its path table by
//!   table (its keys win), and `~/.config/render/engines.toml` and the adapters' blocks are
//!   appended to the folder's own `.config/render/engines.toml` (the tests' home). `render
//!   plan` must accept the folder: exit 0, or, where the page's blocks name files that are
//!   not on this machine (a model's weights, a program under /opt, a recording the example
//!   imagines), exit 2 with every error saying such a file is missing. So a misspelled key,
//!   a value out of range or an undeclared name in any block fails this test.
//!
//! - docs/engines.md shows each adapter's engine.toml as it is (tests/adapters.rs checks
//!   the adapter's own README).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{repo, Folder};

/// README.md and every page of the guide, relative to the repository.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut guide: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(repo()).unwrap().to_path_buf())
        .collect();
    guide.sort();
    assert!(!guide.is_empty(), "docs/ holds no guide");
    pages.extend(guide);
    pages
}

fn read(page: &Path) -> String {
    std::fs::read_to_string(repo().join(page)).unwrap()
}

/// The page's lines that are not in a fenced code block, with their numbers (1-based).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((n + 1, line));
        }
    }
    lines
}

/// The page's ```toml blocks: the line the block starts on (1-based) and its text.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut open {
            None if line.trim_start().starts_with("```toml") => open = Some((n + 2, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.push(open.take().unwrap()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a ```toml block is not closed");
    blocks
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    (heading.trim().to_lowercase().chars())
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings, duplicates numbered as GitHub numbers them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for (_, line) in prose(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

/// The targets of the `[text](target)` and `![alt](target)` links on a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(close) = rest.find("](") {
        let after = &rest[close + 2..];
        let Some(end) = after.find(')') else { break };
        // `[text](target "title")`: the target is the first word.
        let target = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(target.to_string());
        rest = &after[end..];
    }
    targets
}

#[test]
fn every_relative_link_points_at_a_file_and_a_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = read(&page);
        let here = page.parent().unwrap();
        for (n, line) in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let at = format!("{}:{n}: ({target})", page.display());
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    here.join(path)
                };
                if !repo().join(&file).exists() {
                    broken.push(format!("{at}: no file {}", file.display()));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if file.extension().is_none_or(|e| e != "md") {
                    broken.push(format!("{at}: an anchor into a file that is not markdown"));
                } else if !anchors(&read(&file)).contains(anchor) {
                    broken.push(format!(
                        "{at}: {} has no heading whose anchor is #{anchor}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// What a block is, from its first line.
enum Block {
    /// A whole file, or (`fragment`) part of one, at this path in the content folder.
    File { path: String, fragment: bool },
    /// Lines for this machine's engines file.
    Engines,
    /// This machine's farm file, whole (`render::farm::Farm::parse` must accept it).
    Farm,
}

/// The adapters' engine.toml files, by adapter.
fn adapter_engines() -> Vec<(String, String)> {
    let mut adapters: Vec<(String, String)> = std::fs::read_dir(repo().join("engines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("engine.toml").is_file())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                std::fs::read_to_string(dir.join("engine.toml")).unwrap(),
            )
        })
        .collect();
    adapters.sort();
    adapters
}

fn kind(block: &str, at: &str) -> Block {
    if adapter_engines().iter().any(|(_, toml)| toml == block) {
        return Block::Engines;
    }
    let first = block.lines().next().unwrap_or("");
    let Some(name) = first.strip_prefix("# ") else {
        panic!("{at}: a ```toml block starts with `# <the file it is>`, not {first:?}");
    };
    let (path, fragment) = match name.strip_suffix(" (fragment)") {
        Some(path) => (path, true),
        None => (name, false),
    };
    if path == "~/.config/render/farm.toml" && !fragment {
        return Block::Farm;
    }
    let known = path == "Renderfile.toml"
        || path == "~/.config/render/engines.toml"
        || (path.starts_with("projects/") && path.ends_with("/project.toml"))
        || (path.starts_with("models/") && path.ends_with("/model.toml"));
    assert!(
        known && !path.contains(' '),
        "{at}: the block's first line names no file render reads ({path:?}): start it with `# Renderfile.toml`, `# projects/<name>/project.toml`, `# models/<name>/model.toml` or `# ~/.config/render/engines.toml`, or show an adapter's engine.toml as it is"
    );
    if path.starts_with('~') {
        assert!(!fragment, "{at}: the engines file is always added to");
        return Block::Engines;
    }
    Block::File {
        path: path.to_string(),
        fragment,
    }
}

/// `over`'s keys set in `base`: tables merged key by key, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Every string value in a TOML value (paths among them).
fn strings(value: &toml::Value, into: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => into.push(s.clone()),
        toml::Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        toml::Value::Table(table) => table.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

/// The messages of the errors render reported (miette's `×` lines).
fn errors(stderr: &str) -> Vec<String> {
    (stderr.lines())
        .map(|l| l.trim_start().trim_start_matches("╰─▶").trim())
        .filter_map(|l| l.strip_prefix('×'))
        .map(|l| l.trim().to_string())
        .collect()
}

/// True if `message` says that a file the page names (one of `named`, as written or as
/// the end of the path render shows) is missing, and it is.
fn about_missing_file(message: &str, named: &[String], folder: &Folder) -> bool {
    let says_missing = ["not found", "not a file", "not an executable file"]
        .iter()
        .any(|m| message.to_lowercase().contains(m));
    says_missing
        && message.split('`').skip(1).step_by(2).any(|path| {
            let named_here =
                |n: &String| !n.is_empty() && (path == n || path.ends_with(&format!("/{n}")));
            named.iter().any(named_here) && !folder.file(path).exists()
        })
}

#[test]
fn every_toml_block_is_a_file_render_accepts() {
    let (mut tried, mut rejected) = (0, Vec::new());
    for page in pages() {
        let text = read(&page);
        let blocks = toml_blocks(&text);
        if blocks.is_empty() {
            continue;
        }
        let folder = Folder::demo();
        let mut engines = String::new();
        let mut named = Vec::new();
        for (line, block) in &blocks {
            let at = format!("{}:{line}", page.display());
            let table: toml::Table = toml::from_str(block)
                .unwrap_or_else(|e| panic!("{at}: the block is not TOML: {e}\n{block}"));
            strings(&toml::Value::Table(table.clone()), &mut named);
            match kind(block, &at) {
                Block::Engines => engines.push_str(block),
                Block::Farm => {
                    let file = std::path::Path::new("farm.toml");
                    if let Err(errors) = render::farm::Farm::parse(file, block) {
                        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                        rejected.push(format!("{at}: the farm file is refused: {errors:?}"));
                    }
                }
                Block::File {
                    path,
                    fragment: false,
                } => folder.write(&path, block),
                Block::File {
                    path,
                    fragment: true,
                } => {
                    let mut file: toml::Table = match folder.file(&path).exists() {
                        true => toml::from_str(&folder.read(&path))
                            .unwrap_or_else(|e| panic!("{at}: {path} is not TOML: {e}")),
                        false => toml::Table::new(),
                    };
                    merge(&mut file, table);
                    folder.write(&path, &toml::to_string(&file).unwrap());
                }
            }
            tried += 1;
        }
        if !engines.is_empty() {
            folder.write(".config/render/engines.toml", &engines);
        }
        let run = folder.render(&["plan"]);
        let errors = errors(&run.stderr);
        let unexpected: Vec<&String> = (errors.iter())
            .filter(|e| !about_missing_file(e, &named, &folder))
            .collect();
        eprintln!(
            "{}: render plan exits {}; {errors:#?}",
            page.display(),
            run.code
        );
        let accepted = run.code == 0 || (run.code == 2 && unexpected.is_empty());
        if !accepted || (run.code == 2 && errors.is_empty()) {
            rejected.push(format!(
                "{}: `render plan` does not accept the page's TOML (exit {}; errors other than a missing file: {unexpected:?}):\n{}",
                page.display(),
                run.code,
                run.stderr
            ));
        }
    }
    assert!(tried > 10, "only {tried} ```toml blocks found");
    assert!(rejected.is_empty(), "{}", rejected.join("\n"));
}

#[test]
fn the_guide_shows_each_adapter_engine_toml_as_it_is() {
    let engines = read(Path::new("docs/engines.md"));
    for (name, toml) in adapter_engines() {
        assert!(
            engines.contains(&format!("```toml\n{toml}```")),
            "docs/engines.md does not show engines/{name}/engine.toml as it is"
        );
    }
}

#[test]
fn the_readme_is_a_front_page() {
    let size = std::fs::metadata(repo().join("README.md")).unwrap().len();
    assert!(
        size <= 12 * 1024,
        "README.md is {size} bytes: keep it a front page of at most 12 KiB and move detail into docs/"
    );
}
