//! Handlers: the async work a node does, registered by name.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrysalis_flow::{FlowId, HandlerSet, NodeName, ParamValue, Params};
use thiserror::Error;

/// What one handler call gets: where it runs and the node's parameters.
#[derive(Clone, Debug)]
pub struct StepContext {
    /// The flow being run.
    pub flow: FlowId,
    /// The node being run.
    pub node: NodeName,
    /// 1 for the first attempt, counting up with each retry.
    pub attempt: u32,
    /// How many times the node has been entered in this run (above 1 in loops).
    pub iteration: u32,
    /// The node's parameters from the flow.
    pub params: Arc<Params>,
}

impl StepContext {
    /// A non-negative integer parameter, if present.
    pub fn param_u64(&self, name: &str) -> Result<Option<u64>, HandlerError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(ParamValue::Integer(v)) => u64::try_from(*v)
                .map(Some)
                .map_err(|_| HandlerError::bad_parameter(name, "must not be negative")),
            Some(_) => Err(HandlerError::bad_parameter(name, "must be a whole number")),
        }
    }

    /// A text parameter, if present (numbers and booleans are rendered as text).
    pub fn param_text(&self, name: &str) -> Option<String> {
        self.params.get(name).map(ToString::to_string)
    }
}

/// A successful handler result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepOutput {
    /// For decisions: the label of the edge to take (the default edge when none matches).
    pub branch: Option<String>,
    /// A line for the trace and the CLI's progress display.
    pub message: Option<String>,
}

impl StepOutput {
    /// Nothing to report.
    pub fn done() -> Self {
        Self::default()
    }

    /// A decision's choice.
    pub fn branch(label: impl Into<String>) -> Self {
        Self {
            branch: Some(label.into()),
            message: None,
        }
    }

    /// A message for the trace.
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            branch: None,
            message: Some(text.into()),
        }
    }
}

/// Why a handler call failed; the text goes into the trace and, on the last
/// attempt, into [`crate::ExecError::StepFailed`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerError {
    /// The work failed.
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
    },
    /// A parameter from the flow file is missing or malformed.
    #[error("parameter {name:?} {reason}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl HandlerError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
        }
    }

    /// A bad parameter.
    pub fn bad_parameter(name: &str, reason: &'static str) -> Self {
        Self::BadParameter {
            name: name.to_owned(),
            reason,
        }
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<StepOutput, HandlerError>> + Send>>;

/// Async work run for a node. Implemented for every
/// `Fn(StepContext) -> impl Future<Output = Result<StepOutput, HandlerError>>`.
pub trait Handler: Send + Sync {
    /// Starts one attempt.
    fn call(&self, ctx: StepContext) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(StepContext) -> Fut + Send + Sync,
    Fut: Future<Output = Result<StepOutput, HandlerError>> + Send + 'static,
{
    fn call(&self, ctx: StepContext) -> HandlerFuture {
        Box::pin(self(ctx))
    }
}

/// Handlers by name. Flows name handlers; validation checks every name is here.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in handlers (see [`crate::builtin`]).
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        crate::builtin::register_all(&mut registry);
        registry
    }

    /// Registers (or replaces) a handler.
    pub fn register(&mut self, name: &str, handler: impl Handler + 'static) -> &mut Self {
        self.handlers.insert(name.to_owned(), Arc::new(handler));
        self
    }

    /// The handler with this name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(name).cloned()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl HandlerSet for HandlerRegistry {
    fn is_registered(&self, handler: &str) -> bool {
        self.handlers.contains_key(handler)
    }
}

impl fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerRegistry")
            .field("handlers", &self.names())
            .finish()
    }
}
