//! Loading flows from TOML, JSON or YAML text. The caller reads the file; this
//! module never touches the file system.

use std::path::Path;

use thiserror::Error;

use crate::model::Flow;

/// Largest source text accepted, so a hostile file cannot exhaust memory in the parser.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// The text formats a flow can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl Format {
    /// Picks the format from a path's extension (case-insensitive).
    pub fn from_path_extension(path: &Path) -> Result<Format, LoadError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match extension.as_str() {
            "toml" => Ok(Format::Toml),
            "json" => Ok(Format::Json),
            "yaml" | "yml" => Ok(Format::Yaml),
            _ => Err(LoadError::UnknownFormat { extension }),
        }
    }
}

/// Why a flow could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The extension names no supported format.
    #[error("unknown flow format {extension:?}: expected .toml, .json, .yaml or .yml")]
    UnknownFormat {
        /// The extension seen (lower-cased, empty when absent).
        extension: String,
    },
    /// The text is larger than [`MAX_SOURCE_BYTES`].
    #[error("flow source is {len} bytes, more than the limit of {MAX_SOURCE_BYTES}")]
    TooLarge {
        /// Size of the text.
        len: usize,
    },
    /// Not valid TOML, or not the shape of a flow.
    #[error("invalid TOML flow: {0}")]
    Toml(#[from] toml::de::Error),
    /// Not valid JSON, or not the shape of a flow.
    #[error("invalid JSON flow: {0}")]
    Json(#[from] serde_json::Error),
    /// Not valid YAML, or not the shape of a flow.
    #[error("invalid YAML flow: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// Parses a flow from text in the given format. Structural problems (unknown
/// nodes, cycles, …) are not errors here: [`crate::validate`] reports them.
pub fn load(source: &str, format: Format) -> Result<Flow, LoadError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(LoadError::TooLarge { len: source.len() });
    }
    let flow = match format {
        Format::Toml => toml::from_str(source)?,
        Format::Json => serde_json::from_str(source)?,
        Format::Yaml => serde_norway::from_str(source)?,
    };
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, ParamValue, RetryPolicy};

    const TOML: &str = r#"
id = "demo"
[[nodes]]
name = "start"
kind = "start"
[[nodes]]
name = "work"
kind = "task"
handler = "sleep"
timeout_ms = 500
retry = { max_attempts = 3, backoff_ms = 10 }
params = { duration_ms = 20, label = "x" }
[[nodes]]
name = "end"
kind = "end"
[[edges]]
from = "start"
to = "work"
[[edges]]
from = "work"
to = "end"
"#;

    const JSON: &str = r#"{"id":"demo","nodes":[
        {"name":"start","kind":"start"},
        {"name":"work","kind":"task","handler":"sleep","timeout_ms":500,
         "retry":{"max_attempts":3,"backoff_ms":10},"params":{"duration_ms":20,"label":"x"}},
        {"name":"end","kind":"end"}],
      "edges":[{"from":"start","to":"work"},{"from":"work","to":"end"}]}"#;

    const YAML: &str = "
id: demo
nodes:
  - {name: start, kind: start}
  - name: work
    kind: task
    handler: sleep
    timeout_ms: 500
    retry: {max_attempts: 3, backoff_ms: 10}
    params: {duration_ms: 20, label: x}
  - {name: end, kind: end}
edges:
  - {from: start, to: work}
  - {from: work, to: end}
";

    #[test]
    fn three_formats_load_the_same_flow() {
        let toml = load(TOML, Format::Toml).unwrap();
        assert_eq!(load(JSON, Format::Json).unwrap(), toml);
        assert_eq!(load(YAML, Format::Yaml).unwrap(), toml);
        let work = toml.node("work").unwrap();
        assert_eq!(work.kind, Kind::Task);
        assert_eq!(work.retry, Some(RetryPolicy::new(3, 10)));
        assert_eq!(work.params["duration_ms"], ParamValue::Integer(20));
        assert_eq!(toml.node("start").unwrap().handler.as_str(), "noop");
    }

    #[test]
    fn bad_text_is_a_typed_error() {
        let cases: &[(&str, Format, &str)] = &[
            ("id = ", Format::Toml, "invalid TOML flow"),
            ("{", Format::Json, "invalid JSON flow"),
            ("id: [", Format::Yaml, "invalid YAML flow"),
            (
                r#"{"id":"x","nodes":[{"name":"a","kind":"loop"}]}"#,
                Format::Json,
                "unknown variant",
            ),
            (r#"{"id":"x","colour":1}"#, Format::Json, "unknown field"),
        ];
        for (text, format, expected) in cases {
            let err = load(text, *format).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn oversized_source_is_refused() {
        let big = " ".repeat(MAX_SOURCE_BYTES + 1);
        assert!(matches!(
            load(&big, Format::Json),
            Err(LoadError::TooLarge { .. })
        ));
    }

    #[test]
    fn format_follows_extension() {
        assert_eq!(
            Format::from_path_extension(Path::new("a/b.TOML")).unwrap(),
            Format::Toml
        );
        assert_eq!(
            Format::from_path_extension(Path::new("b.yml")).unwrap(),
            Format::Yaml
        );
        assert_eq!(
            Format::from_path_extension(Path::new("b.json")).unwrap(),
            Format::Json
        );
        let err = Format::from_path_extension(Path::new("b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown flow format \"\": expected .toml, .json, .yaml or .yml"
        );
    }
}
