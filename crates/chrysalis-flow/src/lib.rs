//! Flow graphs for Chrysalis (layer L1, sans-IO).
//!
//! A [`Flow`] is a graph of start, end, task, decision, fork and join nodes. It is
//! built in Rust ([`Flow::add_node`], [`Flow::add_edge`]) or parsed from TOML, JSON
//! or YAML text with [`load`]. [`validate`] runs the Datalog rules in `rules.rs`
//! (the specification of a valid flow) and returns a [`Report`] with every
//! diagnostic at once. [`Plan::new`] compiles a flow without errors, and a
//! [`Planner`] decides, from the steps that have finished, which may run next:
//! the executor crate is a thin async shell around it.
//!
//! Nothing here reads files, clocks or sockets.
//!
//! ```
//! use chrysalis_flow::{Flow, Kind, Plan, Planner, validate};
//!
//! let mut flow = Flow::new("hello");
//! flow.add_node("start", Kind::Start, "noop");
//! flow.add_node("end", Kind::End, "noop");
//! flow.add_edge("start", "end");
//! assert!(!validate(&flow, &["noop"]).has_errors());
//!
//! let plan = Plan::new(&flow, &["noop"]).expect("valid");
//! let mut planner = Planner::new(std::sync::Arc::new(plan));
//! let step = planner.next_request().expect("start runs first");
//! planner.succeeded(step.step, None).expect("running");
//! let step = planner.next_request().expect("then the end");
//! planner.succeeded(step.step, None).expect("running");
//! assert!(planner.outcome().is_some());
//! ```

mod analysis;
mod diagnostic;
mod graph;
mod load;
mod model;
mod plan;
mod planner;
mod rules;
mod validate;

pub use diagnostic::{Code, Diagnostic, Report, Severity};
pub use load::{Format, LoadError, MAX_SOURCE_BYTES, load};
pub use model::{
    Edge, Flow, FlowId, HandlerName, Kind, Node, NodeName, ParamValue, Params, RetryPolicy,
};
pub use plan::{NodeIndex, Plan, PlanNode};
pub use planner::{
    AfterFailure, FailureCause, Outcome, Planner, PlannerError, StepId, StepRequest,
};
pub use validate::{AnyHandler, HandlerSet, validate};
