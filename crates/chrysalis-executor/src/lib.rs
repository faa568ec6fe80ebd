//! Runs Chrysalis flows (layer L2): a thin tokio shell around the sans-IO
//! [`chrysalis_flow::Planner`].
//!
//! Handlers are async functions registered by name in a [`HandlerRegistry`]
//! ([`HandlerRegistry::with_builtins`] adds `noop`, `log`, `sleep`, `fail`,
//! `flaky` and `choose`). [`run`] starts whatever the planner allows as tokio
//! tasks, so parallel branches run concurrently; it applies per-node timeouts and
//! retry backoff on tokio's clock, stops everything on a [`CancelToken`], and
//! writes every step as a [`StepRecord`] to a [`StepSink`]; [`LedgerSink`]
//! appends them to the trace ledger.

pub mod builtin;
mod cancel;
mod handler;
mod ledger;
mod run;
mod sink;

pub use cancel::CancelToken;
pub use handler::{Handler, HandlerError, HandlerFuture, HandlerRegistry, StepContext, StepOutput};
pub use ledger::{LedgerSink, LedgerSinkError};
pub use run::{ExecError, RunSummary, run, run_flow};
pub use sink::{FnSink, MemorySink, StepEvent, StepRecord, StepSink};
