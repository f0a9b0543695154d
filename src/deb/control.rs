//! The control member: the `control` paragraph and the archive's own `md5sums` and
//! `conffiles`. These are what identify an archive (name, version, architecture) and what
//! the md5sums trust path compares with ROOT's records.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

#[derive(Clone, Debug, Default)]
pub struct Control {
    /// Field names as written (`Package`, `Version`, ...), continuation lines joined by '\n'.
    pub fields: BTreeMap<String, String>,
    /// `md5sums` entries: absolute path -> lowercase hex md5. Empty when the archive has none.
    pub md5sums: BTreeMap<PathBuf, String>,
    pub conffiles: Vec<PathBuf>,
}

/// The control.tar members we read fully; anything else in it (scripts, triggers) is skipped.
const READ_LIMIT: u64 = 16 << 20;

impl Control {
    pub fn read(decoded: impl Read) -> Result<Control, String> {
        let mut control = Control::default();
        let mut seen_control = false;
        let mut tar = tar::Archive::new(decoded);
        for entry in tar.entries().map_err(|err| err.to_string())? {
            let mut entry = entry.map_err(|err| err.to_string())?;
            let name = entry.path_bytes();
            let name = String::from_utf8_lossy(&name)
                .trim_start_matches("./")
                .to_string();
            if !matches!(name.as_str(), "control" | "md5sums" | "conffiles") {
                continue;
            }
            let mut content = Vec::new();
            entry
                .by_ref()
                .take(READ_LIMIT)
                .read_to_end(&mut content)
                .map_err(|err| format!("{name}: {err}"))?;
            match name.as_str() {
                "control" => {
                    control.fields =
                        parse_paragraph(&content).map_err(|why| format!("control: {why}"))?;
                    seen_control = true;
                }
                "md5sums" => {
                    control.md5sums =
                        parse_md5sums(&content).map_err(|why| format!("md5sums: {why}"))?
                }
                _ => {
                    control.conffiles = content
                        .split(|&b| b == b'\n')
                        .map(|line| String::from_utf8_lossy(line).trim().to_string())
                        .filter(|line| !line.is_empty())
                        // Since dpkg 1.20 a line may carry flags first (`remove-on-upgrade /x`).
                        .filter_map(|line| line.rsplit(' ').next().map(PathBuf::from))
                        .collect()
                }
            }
        }
        if !seen_control {
            return Err("no 'control' file".into());
        }
        for required in ["Package", "Version"] {
            if !control.fields.contains_key(required) {
                return Err(format!("control has no {required} field"));
            }
        }
        Ok(control)
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn package(&self) -> &str {
        self.field("Package").unwrap_or_default()
    }

    pub fn version(&self) -> &str {
        self.field("Version").unwrap_or_default()
    }

    pub fn architecture(&self) -> &str {
        self.field("Architecture").unwrap_or("all")
    }
}

/// One deb822 paragraph; the first value line is trimmed, continuation lines are kept.
fn parse_paragraph(content: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8".to_string())?;
    let mut fields = BTreeMap::new();
    let mut current: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let name = current
                .as_ref()
                .ok_or(format!("line {}: continuation before any field", index + 1))?;
            let value: &mut String = fields.get_mut(name).expect("current field exists");
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(format!("line {}: not 'Field: value'", index + 1))?;
        fields.insert(name.to_string(), value.trim().to_string());
        current = Some(name.to_string());
    }
    Ok(fields)
}

fn parse_md5sums(content: &[u8]) -> Result<BTreeMap<PathBuf, String>, String> {
    use std::os::unix::ffi::OsStrExt;
    let mut sums = BTreeMap::new();
    for (index, line) in content.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let (hash, path) = line
            .get(..32)
            .zip(line.get(34..))
            .filter(|_| line.get(32..34) == Some(b"  "))
            .ok_or(format!("line {}: not 'MD5  path'", index + 1))?;
        let hash = std::str::from_utf8(hash)
            .ok()
            .filter(|hash| hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(format!("line {}: not a hex md5", index + 1))?;
        let mut absolute = PathBuf::from("/");
        absolute.push(std::ffi::OsStr::from_bytes(
            path.strip_prefix(b"./").unwrap_or(path),
        ));
        sums.insert(absolute, hash.to_ascii_lowercase());
    }
    Ok(sums)
}
