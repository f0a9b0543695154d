//! ROOT's apt sources (`etc/apt/sources.list`, `sources.list.d/*.list` and deb822 `*.sources`),
//! read for two things: which suites and components an `http://` mirror serves, and the exact
//! `--from` command to suggest when archives are missing.

use std::path::Path;

use crate::sys::input::read_at_most;
use crate::sys::root::{Last, Root};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// A sources file larger than this is not read: real ones are a few lines.
const MAX_SOURCES_FILE: u64 = 1 << 20;

/// A sources file's text, read inside ROOT; `None` when absent, not a regular file, too large.
fn read_text(root: &Root, inside: &Path) -> Option<String> {
    let file = root.open_regular(inside).ok()?;
    let bytes = read_at_most(file, MAX_SOURCES_FILE).ok()?;
    String::from_utf8(bytes).ok()
}

/// Every `deb` source of ROOT (not `deb-src`), in file order. Unreadable files are skipped:
/// this only ever feeds suggestions and defaults.
pub fn read(root: &Root) -> Vec<AptSource> {
    let mut sources = Vec::new();
    let etc = Path::new("/etc/apt");
    if let Some(text) = read_text(root, &etc.join("sources.list")) {
        sources.extend(one_line_style(&text));
    }
    let parts = etc.join("sources.list.d");
    let mut extra: Vec<_> = root
        .resolve(&parts, Last::Follow)
        .and_then(std::fs::read_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| parts.join(entry.file_name()))
        .collect();
    extra.sort();
    for path in extra {
        let Some(text) = read_text(root, &path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(one_line_style(&text)),
            Some("sources") => sources.extend(deb822_style(&text)),
            _ => {}
        }
    }
    sources
}

fn one_line_style(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        // `deb [arch=amd64 signed-by=...] URI suite comp...`
        if words.peek().is_some_and(|w| w.starts_with('[')) {
            for word in words.by_ref() {
                if word.ends_with(']') {
                    break;
                }
            }
        }
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        sources.push(AptSource {
            uri: uri.trim_end_matches('/').to_string(),
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
        });
    }
    sources
}

fn deb822_style(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut types = Vec::new();
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut components = Vec::new();
        let mut enabled = true;
        for line in paragraph.lines() {
            if line.starts_with('#') || line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            let values = || {
                value
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            match field.trim().to_ascii_lowercase().as_str() {
                "types" => types = values(),
                "uris" => uris = values(),
                "suites" => suites = values(),
                "components" => components = values(),
                "enabled" => enabled = !value.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if !enabled || !types.iter().any(|t| t == "deb") {
            continue;
        }
        for uri in uris {
            sources.push(AptSource {
                uri: uri.trim_end_matches('/').to_string(),
                suites: suites.clone(),
                components: components.clone(),
            });
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_styles_are_read() {
        let list = one_line_style("deb [arch=amd64] http://deb.debian.org/debian/ bookworm main contrib # c\ndeb-src http://x y z\n");
        assert_eq!(
            list,
            vec![AptSource {
                uri: "http://deb.debian.org/debian".into(),
                suites: vec!["bookworm".into()],
                components: vec!["main".into(), "contrib".into()],
            }]
        );
        let sources = deb822_style("Types: deb\nURIs: http://a/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://b\nSuites: x\n");
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].suites, vec!["bookworm", "bookworm-updates"]);
    }
}
