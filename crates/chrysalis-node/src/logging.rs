//! Structured logs: `tracing` events written by `tracing-subscriber` to
//! standard error, as text or one JSON object a line, filtered by a target
//! list such as `info` or `warn,chrysalis_node=debug` (no regex engine to
//! compile).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The filter does not parse.
    #[error("log filter {filter:?}: {source}")]
    BadFilter {
        /// The filter given.
        filter: String,
        /// What the parser said.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Installs the global subscriber with `filter`, writing JSON lines when
/// `json`. A second call leaves the first subscriber in place.
pub fn init(filter: &str, json: bool) -> Result<(), LogError> {
    let targets: Targets = filter.parse().map_err(|source| LogError::BadFilter {
        filter: filter.to_owned(),
        source,
    })?;
    // Colour only on a terminal, and never under NO_COLOR.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = if json {
        tracing_subscriber::registry()
            .with(fmt.json().with_ansi(false))
            .with(targets)
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(fmt.with_ansi(colour))
            .with(targets)
            .try_init()
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_filter_is_refused() {
        assert!(super::init("info,=nonsense=", false).is_err());
    }
}
