//! Diagnostics and the report that gathers them: one line each, printed as-is by the CLI.

use std::fmt;

use crate::model::NodeName;

/// How bad a diagnostic is: errors block execution, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// The flow cannot run.
    Error,
    /// Suspicious but runnable.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

macro_rules! codes {
    ($($variant:ident => ($text:literal, $severity:ident, $doc:literal),)*) => {
        /// What a diagnostic is about; the short name is stable and printed in brackets.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// Every code, in report order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable short name.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// The severity of every diagnostic with this code.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }
        }
    };
}

codes! {
    DuplicateNode => ("duplicate-node", Error, "Two nodes share a name."),
    UnknownNode => ("unknown-node", Error, "An edge names a node that does not exist."),
    NoStart => ("no-start", Error, "The flow has no start node."),
    ManyStarts => ("many-starts", Error, "The flow has more than one start node."),
    NoEnd => ("no-end", Error, "The flow has no end node."),
    StartIncoming => ("start-incoming", Error, "An edge leads into the start node."),
    EndOutgoing => ("end-outgoing", Error, "An edge leaves an end node."),
    Unreachable => ("unreachable", Warning, "The start node cannot reach the node."),
    NoPathToEnd => ("no-path-to-end", Error, "The node cannot reach any end node."),
    UnboundedCycle => ("unbounded-cycle", Error, "A cycle passes no loop-bounded node, so the flow may not terminate."),
    Fanout => ("fanout", Error, "A node other than a fork or decision has several outgoing edges."),
    ForkWithoutJoin => ("fork-without-join", Error, "No branch of a fork reaches a join."),
    OpenBranch => ("open-branch", Error, "One branch of a fork never reaches a join."),
    AmbiguousJoin => ("ambiguous-join", Error, "The branches of one fork end at different joins."),
    JoinWithoutFork => ("join-without-fork", Error, "A join closes no fork."),
    SharedJoin => ("shared-join", Error, "A join closes the branches of more than one fork."),
    MissingDefault => ("missing-default", Error, "A decision has no default edge."),
    ManyDefaults => ("many-defaults", Error, "A decision has more than one default edge."),
    UnlabelledBranch => ("unlabelled-branch", Error, "An edge out of a decision has neither a condition nor the default flag."),
    StrayCondition => ("stray-condition", Warning, "An edge that does not leave a decision carries a condition or default flag."),
    NoAttempts => ("no-attempts", Error, "A retry policy allows zero attempts."),
    UnregisteredHandler => ("unregistered-handler", Error, "A node names a handler the executor does not know."),
}

/// One finding, naming the nodes involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What it is about.
    pub code: Code,
    /// The nodes involved, in the order the message names them.
    pub nodes: Vec<NodeName>,
    /// The human sentence (without severity and code).
    pub message: String,
}

impl Diagnostic {
    /// Its severity (from the code).
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]: {}",
            self.severity(),
            self.code.as_str(),
            self.message
        )
    }
}

/// Every diagnostic of one validation. `Display` prints one line per diagnostic,
/// errors first, exactly as `chrysalis flow check` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.severity(), d.code));
        Self { diagnostics }
    }

    /// Whether any diagnostic is an error (the flow must not run).
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// All diagnostics in print order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Warning)
    }

    /// A closing line such as `2 errors, 1 warning`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(self.errors().count(), "error"),
            plural(self.warnings().count(), "warning")
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Formats names as `"a", "b"` for messages.
pub(crate) fn quoted(names: &[&NodeName]) -> String {
    names
        .iter()
        .map(|n| format!("{:?}", n.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
