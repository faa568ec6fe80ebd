//! How the demo talks: numbered sections, checks that pass or fail, timings,
//! and colour when standard output is a terminal.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints the demo and keeps score of its checks.
pub(crate) struct Show {
    colour: bool,
    section: usize,
    passed: usize,
    failed: Vec<String>,
    started: Instant,
}

impl Show {
    pub(crate) fn new() -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            section: 0,
            passed: 0,
            failed: Vec::new(),
            started: Instant::now(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn out(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`chrysalis demo | head`) is not worth a panic.
        let _ = writeln!(out, "{line}");
    }

    pub(crate) fn title(&self, title: &str, subtitle: &str) {
        self.out("");
        self.out(&self.paint("1;35", &format!("  {title}")));
        self.out(&self.paint("2", &format!("  {subtitle}")));
    }

    pub(crate) fn section(&mut self, title: &str) {
        self.section += 1;
        self.out("");
        let head = format!("{}. {title}", self.section);
        self.out(&format!("  {}", self.paint("1;36", &head)));
    }

    /// A fact worth showing, as `label  value`.
    pub(crate) fn fact(&self, label: &str, value: impl Display) {
        // Pad before painting: escape codes must not count toward the width.
        let label = format!("{label:<14}");
        self.out(&format!("     {} {value}", self.paint("2", &label)));
    }

    /// A line of narration.
    pub(crate) fn say(&self, text: impl Display) {
        self.out(&format!("     {text}"));
    }

    /// Rewrites the live status line in place (terminals only: elsewhere it
    /// prints nothing, and the caller narrates milestones with [`Show::say`]).
    pub(crate) fn progress(&self, text: impl Display) {
        if self.colour {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K     {}", self.paint("2", &text.to_string()));
            let _ = out.flush();
        }
    }

    /// Ends the live status line, so that what follows starts on a new line.
    pub(crate) fn progress_done(&self) {
        if self.colour {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }

    /// Whether live status lines are shown.
    pub(crate) fn is_live(&self) -> bool {
        self.colour
    }

    /// Records a check: `ok` is what happened matching what should happen.
    pub(crate) fn check(&mut self, ok: bool, what: impl Display, detail: impl Display) {
        let (what, detail) = (what.to_string(), detail.to_string());
        let mark = if ok {
            self.passed += 1;
            self.paint("32", "✓")
        } else {
            self.failed.push(what.clone());
            self.paint("1;31", "✗ UNEXPECTED:")
        };
        // A short detail shares the line; a long one gets a line of its own.
        if detail.is_empty() {
            self.out(&format!("   {mark} {what}"));
        } else if what.chars().count() + detail.chars().count() <= 96 {
            self.out(&format!("   {mark} {what}  {}", self.paint("2", &detail)));
        } else {
            self.out(&format!("   {mark} {what}"));
            self.out(&format!(
                "       {}",
                self.paint("2", &format!("↳ {detail}"))
            ));
        }
    }

    /// Records a check that something bad was refused, showing the refusal.
    pub(crate) fn refused<T, E: Display>(&mut self, what: impl Display, result: Result<T, E>) {
        match result {
            Err(err) => {
                let why = format!("refused: {err}");
                self.check(true, what, why);
            }
            Ok(_) => self.check(false, what, "was accepted"),
        }
    }

    /// Prints the closing summary; `true` when every check passed.
    pub(crate) fn finish(&self) -> bool {
        self.out("");
        let elapsed = format_duration(self.started.elapsed());
        if self.failed.is_empty() {
            let line = format!("  All {} checks held, in {elapsed}.", self.passed);
            self.out(&self.paint("1;32", &line));
        } else {
            let line = format!(
                "  {} of {} checks failed:",
                self.failed.len(),
                self.passed + self.failed.len()
            );
            self.out(&self.paint("1;31", &line));
            for what in &self.failed {
                self.out(&format!("   - {what}"));
            }
        }
        self.out("");
        self.failed.is_empty()
    }
}

/// Runs `f`, returning its result and how long it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// A duration in the unit that reads best.
pub(crate) fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}
