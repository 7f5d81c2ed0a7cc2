//! Finds the line of a value in YAML text by its path
//! (`scrape_configs[1].job_name`), for errors found after deserialising,
//! where serde no longer knows positions. Understands block style; inside
//! flow style (`{a: b}`, `[x]`) it stops at the enclosing line.

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, shown as `scrape_configs[1].job_name`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct At(pub Vec<Seg>);

impl At {
    pub fn key(&self, key: &str) -> At {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        At(segs)
    }

    pub fn index(&self, index: usize) -> At {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        At(segs)
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A content line: where its first token starts, whether that is a `- `
/// sequence marker, and the mapping key it holds (with its column).
struct Line<'a> {
    number: usize,
    first_col: usize,
    dash: bool,
    key: Option<(&'a str, usize)>,
}

fn scan(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.trim().is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let first_col = raw.len() - trimmed.len();
        let (dash, content, content_col) = match trimmed.strip_prefix('-') {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                let inner = rest.trim_start_matches(' ');
                (true, inner, first_col + 1 + rest.len() - inner.len())
            }
            _ => (false, trimmed, first_col),
        };
        lines.push(Line {
            number: i + 1,
            first_col,
            dash,
            key: mapping_key(content).map(|k| (k, content_col)),
        });
    }
    lines
}

/// The key of `key: value` / `"key": value`, if the content starts with one.
fn mapping_key(content: &str) -> Option<&str> {
    let (key, rest) = if let Some(quoted) = content.strip_prefix('"') {
        let end = quoted.find('"')?;
        (&quoted[..end], &quoted[end + 1..])
    } else if let Some(quoted) = content.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        (&quoted[..end], &quoted[end + 1..])
    } else {
        let end = content
            .char_indices()
            .find(|&(i, c)| c == ':' && content[i + 1..].chars().next().is_none_or(|n| n == ' '))
            .map(|(i, _)| i)?;
        let key = &content[..end];
        if key.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
            return None;
        }
        (key.trim_end(), &content[end..])
    };
    let rest = rest.trim_start_matches(' ');
    (rest.starts_with(':') && rest[1..].chars().next().is_none_or(|n| n == ' ')).then_some(key)
}

/// The mapping key written on a 1-based line, if any.
pub fn key_on_line(text: &str, line: usize) -> Option<&str> {
    scan(text)
        .into_iter()
        .find(|l| l.number == line)
        .and_then(|l| l.key)
        .map(|(k, _)| k)
}

/// serde_yaml's path can stop at the enclosing struct (for checks that run
/// after a field was read); add the key written on the error's line so the
/// message names the field.
pub fn name_field(text: &str, line: usize, message: &str) -> String {
    let Some(key) = key_on_line(text, line) else {
        return message.to_string();
    };
    if message.contains(&format!("\"{key}\"")) || message.contains(&format!("`{key}`")) {
        return message.to_string();
    }
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => {
            // A key on the line that the path already passes through is an
            // enclosing one (flow style): the path is as precise as it gets.
            if path.split(['.', '[', ']']).any(|seg| seg == key) {
                message.to_string()
            } else {
                format!("{path}.{key}: {rest}")
            }
        }
        _ => format!("{key}: {message}"),
    }
}

/// The 1-based line of the deepest part of `at` that could be found.
pub fn line_of(text: &str, at: &At) -> Option<usize> {
    let lines = scan(text);
    let mut region = &lines[..];
    let mut found = None;
    for seg in &at.0 {
        let Some(first) = region.first() else { break };
        match seg {
            Seg::Key(name) => {
                let col = match first.key {
                    Some((_, col)) => col,
                    None => break,
                };
                let Some(pos) = region
                    .iter()
                    .position(|l| l.key.is_some_and(|(k, c)| c == col && k == name))
                else {
                    break;
                };
                found = Some(region[pos].number);
                let rest = &region[pos + 1..];
                let end = rest
                    .iter()
                    .position(|l| l.first_col < col || (l.first_col == col && !l.dash))
                    .unwrap_or(rest.len());
                region = &rest[..end];
            }
            Seg::Index(n) => {
                if !first.dash {
                    break;
                }
                let col = first.first_col;
                let starts: Vec<usize> = region
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.dash && l.first_col == col)
                    .map(|(i, _)| i)
                    .collect();
                let Some(&start) = starts.get(*n) else { break };
                let end = starts.get(n + 1).copied().unwrap_or_else(|| {
                    region[start + 1..]
                        .iter()
                        .position(|l| l.first_col < col)
                        .map_or(region.len(), |p| start + 1 + p)
                });
                found = Some(region[start].number);
                region = &region[start..end];
                // The item's own mapping starts after its dash.
                if region[0].key.is_none() {
                    region = &region[1..];
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(segs: &[Seg]) -> At {
        At(segs.to_vec())
    }
    fn k(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }

    #[test]
    fn finds_block_style_paths() {
        let text = "\
global:
  scrape_interval: 15s
# comment
scrape_configs:
  - job_name: a
    static_configs:
      - targets: [x]
  - job_name: b
    relabel_configs:
    - source_labels: [y]
      action: keep
remote_write:
- url: http://x
";
        assert_eq!(
            line_of(text, &at(&[k("global"), k("scrape_interval")])),
            Some(2)
        );
        let second = at(&[k("scrape_configs"), Seg::Index(1), k("job_name")]);
        assert_eq!(line_of(text, &second), Some(8));
        let action = at(&[
            k("scrape_configs"),
            Seg::Index(1),
            k("relabel_configs"),
            Seg::Index(0),
            k("action"),
        ]);
        assert_eq!(line_of(text, &action), Some(11));
        let url = at(&[k("remote_write"), Seg::Index(0), k("url")]);
        assert_eq!(line_of(text, &url), Some(13));
        // Unknown tail: the deepest known part.
        let missing = at(&[k("scrape_configs"), Seg::Index(0), k("nope")]);
        assert_eq!(line_of(text, &missing), Some(5));
        assert_eq!(second.to_string(), "scrape_configs[1].job_name");
    }

    #[test]
    fn flow_style_stops_at_enclosing_line() {
        let text = "scrape_configs: [{job_name: a}]\n";
        let p = at(&[k("scrape_configs"), Seg::Index(0), k("job_name")]);
        assert_eq!(line_of(text, &p), Some(1));
    }

    #[test]
    fn names_the_field_on_the_line() {
        let text = "global:\n  scrape_interval: 15x\nscrape_configs: [{job_name: a, scrape_interval: 1}]\n";
        assert_eq!(
            name_field(text, 2, "global: invalid duration"),
            "global.scrape_interval: invalid duration"
        );
        assert_eq!(
            name_field(text, 2, "global.scrape_interval: bad"),
            "global.scrape_interval: bad"
        );
        // Flow style: the key on the line encloses the path; leave it.
        assert_eq!(
            name_field(text, 3, "scrape_configs[0].scrape_interval: bad"),
            "scrape_configs[0].scrape_interval: bad"
        );
    }
}
