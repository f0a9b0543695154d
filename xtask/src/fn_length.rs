//! `cargo xtask fn-length`: no function in `src/` is longer than [`LIMIT`] lines, test code
//! included (a test that long wants helpers as much as code does). A function over ~60 lines
//! is a sign its steps want names; over 100 it is a rule.
//!
//! It reads rustfmt's layout, not Rust's grammar: a function is a line that starts, after its
//! indentation, with `fn NAME` (behind `pub`, `const`, `async`, `unsafe`, `extern "C"`), and
//! ends at the first later line that is that same indentation and `}`. The signature's lines
//! count. Declarations without a body (`fn f();`) and one-line functions are passed over.
//! `cargo fmt --check` runs first in `ci`, so the layout holds.

use std::path::{Path, PathBuf};

use crate::shell::workspace_root;

pub const LIMIT: usize = 100;

#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: String,
    /// 1-based, the `fn` line.
    pub line: usize,
    pub lines: usize,
    /// Inside a `#[cfg(test)]` module.
    pub test: bool,
}

pub fn run() -> crate::Result {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for file in rust_files(&root.join("src"))? {
        let text = std::fs::read_to_string(&file)
            .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for function in functions(&text) {
            if function.lines > LIMIT {
                offenders.push((shown.clone(), function));
            }
        }
    }
    if offenders.is_empty() {
        println!("xtask fn-length: no function in src/ is longer than {LIMIT} lines");
        return Ok(());
    }
    for (file, function) in &offenders {
        let test = if function.test { ", test code" } else { "" };
        println!(
            "{file}:{} {} ({} lines{test})",
            function.line, function.name, function.lines
        );
    }
    Err(format!(
        "{} functions in src/ are longer than {LIMIT} lines",
        offenders.len()
    ))
}

/// Every `.rs` file under `dir`, sorted, so the report reads the same on every machine.
fn rust_files(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The functions of one rustfmt-formatted file, with their lengths.
pub fn functions(text: &str) -> Vec<Function> {
    let lines: Vec<&str> = text.lines().collect();
    let tests = test_modules(&lines);
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let Some(name) = fn_name(line.trim_start()) else {
            continue;
        };
        let Some(body) = body_start(&lines, at) else {
            continue;
        };
        let closing = format!("{indent}}}");
        let Some(end) = (body + 1..lines.len()).find(|&i| lines[i] == closing) else {
            continue;
        };
        out.push(Function {
            name: name.to_string(),
            line: at + 1,
            lines: end - at + 1,
            test: tests.iter().any(|range| range.contains(&at)),
        });
    }
    out
}

/// The name when `line` (indentation removed) starts a function item.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line;
    if let Some(after) = rest.strip_prefix("pub") {
        rest = match after.strip_prefix('(') {
            Some(scope) => scope.split_once(") ")?.1,
            None => after.strip_prefix(' ')?,
        };
    }
    loop {
        if let Some(after) = ["const ", "async ", "unsafe ", "default "]
            .iter()
            .find_map(|word| rest.strip_prefix(word))
        {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("extern ") {
            rest = match after.strip_prefix('"') {
                Some(abi) => abi.split_once("\" ")?.1,
                None => after,
            };
        } else {
            break;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The line whose `{` opens the body of the function whose signature starts at `at`; None
/// for a declaration (`;`) or a function on one line.
fn body_start(lines: &[&str], at: usize) -> Option<usize> {
    for (i, line) in lines.iter().enumerate().skip(at) {
        let line = line.trim_end();
        if line.ends_with('{') {
            return Some(i);
        }
        if line.ends_with(';') || line.ends_with('}') {
            return None;
        }
    }
    None
}

/// Line ranges (0-based) of `#[cfg(test)] mod NAME { ... }` blocks.
fn test_modules(lines: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.trim() != "#[cfg(test)]" {
            continue;
        }
        let Some(module) = (at + 1..lines.len()).find(|&i| !lines[i].trim().starts_with("#["))
        else {
            continue;
        };
        let header = lines[module];
        let trimmed = header.trim_start();
        let is_module = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        if !is_module || !header.trim_end().ends_with('{') {
            continue;
        }
        let closing = format!("{}}}", &header[..header.len() - trimmed.len()]);
        if let Some(end) = (module + 1..lines.len()).find(|&i| lines[i] == closing) {
            out.push(module..end + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"pub fn short() -> u8 {
    1
}

pub(crate) async unsafe fn long_signature(
    a: u8,
) -> Result<(), String>
where
    String: Clone,
{
    let inner = |x: u8| {
        x
    };
    Ok(())
}

trait Shape {
    fn area(&self) -> f64;
    fn name(&self) -> &str {
        "shape"
    }
}

fn one_line() {}

extern "C" fn callback() {
    // fn not_a_function() {
}

#[cfg(test)]
mod tests {
    #[test]
    fn checks() {
        assert!(true);
    }
}
"#;

    #[test]
    fn functions_are_measured_from_fn_to_closing_brace() {
        let found: Vec<(String, usize, usize, bool)> = functions(SAMPLE)
            .into_iter()
            .map(|f| (f.name, f.line, f.lines, f.test))
            .collect();
        assert_eq!(
            found,
            vec![
                ("short".to_string(), 1, 3, false),
                ("long_signature".to_string(), 5, 11, false),
                ("name".to_string(), 19, 3, false),
                ("callback".to_string(), 26, 3, false),
                ("checks".to_string(), 33, 3, true),
            ]
        );
    }

    #[test]
    fn names_behind_qualifiers() {
        assert_eq!(fn_name("pub(in crate::sys) fn x() {"), Some("x"));
        assert_eq!(fn_name("const fn size_of<T>() -> usize {"), Some("size_of"));
        assert_eq!(fn_name("fnord();"), None);
        assert_eq!(fn_name("// fn commented() {"), None);
        assert_eq!(fn_name("let f = fn_pointer;"), None);
    }
}
