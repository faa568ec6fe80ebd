//! The pure "what may run next" state machine. It sees only step results and
//! answers with step requests; the executor turns requests into handler calls,
//! timers and trace records. No clock, no I/O: the same inputs give the same plan.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use thiserror::Error;

use crate::model::Kind;
use crate::plan::{NodeIndex, Plan};

/// Identifies one attempt of one node activation within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(u64);

impl StepId {
    /// Rebuilds an id from its raw value (for decoding trace records).
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw counter value (steps are numbered from 0 in request order).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// "Run this node's handler now (after `delay_ms`)."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepRequest {
    /// The step.
    pub step: StepId,
    /// The node to run.
    pub node: NodeIndex,
    /// 1 for the first attempt, counting up with each retry.
    pub attempt: u32,
    /// How many times the node has been entered in this run, this time included
    /// (above 1 only for nodes on a loop).
    pub iteration: u32,
    /// Backoff to wait before starting (0 for first attempts).
    pub delay_ms: u64,
}

/// Why a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// The handler failed on its last allowed attempt.
    Handler {
        /// Attempts made.
        attempts: u32,
    },
    /// The node was entered more often than its `max_iterations`.
    LoopBound {
        /// The bound.
        max_iterations: u32,
    },
    /// Nothing runs and nothing can: a join waits for a branch that will never come.
    Stalled,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An end node finished.
    Completed {
        /// The end node.
        end: NodeIndex,
    },
    /// The run failed at `node`.
    Failed {
        /// Where.
        node: NodeIndex,
        /// Why.
        cause: FailureCause,
    },
}

/// What the planner decided about a failed step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Another attempt is requested (also queued for [`Planner::next_request`]).
    Retry(StepRequest),
    /// The run has failed; see [`Planner::outcome`].
    GiveUp,
}

/// A step result that does not fit the run.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlannerError {
    /// The step is not running (never requested, or already reported).
    #[error("step {0:?} is not running")]
    UnknownStep(StepId),
}

/// The execution state of one run of a [`Plan`].
#[derive(Debug)]
pub struct Planner {
    plan: Arc<Plan>,
    queue: VecDeque<StepRequest>,
    running: BTreeMap<StepId, StepRequest>,
    arrived: Vec<u32>,
    entered: Vec<u32>,
    next_step: u64,
    outcome: Option<Outcome>,
}

impl Planner {
    /// A run about to start: the start node is queued.
    pub fn new(plan: Arc<Plan>) -> Self {
        let n = plan.nodes().count();
        let start = plan.start();
        let mut planner = Self {
            plan,
            queue: VecDeque::new(),
            running: BTreeMap::new(),
            arrived: vec![0; n],
            entered: vec![0; n],
            next_step: 0,
            outcome: None,
        };
        planner.enter(start);
        planner
    }

    /// The plan being run.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The next step to start, if any; it counts as running from now on.
    pub fn next_request(&mut self) -> Option<StepRequest> {
        if self.outcome.is_some() {
            return None;
        }
        let request = self.queue.pop_front()?;
        self.running.insert(request.step, request);
        Some(request)
    }

    /// How the run ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Steps started and not yet reported.
    pub fn running(&self) -> impl Iterator<Item = &StepRequest> {
        self.running.values()
    }

    /// Reports a successful step. `branch` is the label a decision's handler chose.
    pub fn succeeded(&mut self, step: StepId, branch: Option<&str>) -> Result<(), PlannerError> {
        let request = self
            .running
            .remove(&step)
            .ok_or(PlannerError::UnknownStep(step))?;
        if self.outcome.is_some() {
            return Ok(());
        }
        let node = request.node;
        match self.plan.node(node).kind {
            Kind::End => self.outcome = Some(Outcome::Completed { end: node }),
            Kind::Decision => {
                let successors = self.plan.successors(node);
                let chosen = successors
                    .iter()
                    .find(|s| branch.is_some() && s.condition.as_deref() == branch)
                    .or_else(|| successors.iter().find(|s| s.default))
                    .map(|s| s.to);
                if let Some(to) = chosen {
                    self.enter(to);
                }
            }
            _ => {
                let targets: Vec<NodeIndex> =
                    self.plan.successors(node).iter().map(|s| s.to).collect();
                for to in targets {
                    self.enter(to);
                }
            }
        }
        self.check_stalled(node);
        Ok(())
    }

    /// Reports a failed step (handler error or timeout): retries while the node's
    /// policy allows, then fails the run.
    pub fn failed(&mut self, step: StepId) -> Result<AfterFailure, PlannerError> {
        let request = self
            .running
            .remove(&step)
            .ok_or(PlannerError::UnknownStep(step))?;
        if self.outcome.is_some() {
            return Ok(AfterFailure::GiveUp);
        }
        let plan = Arc::clone(&self.plan);
        let policy = &plan.node(request.node).retry;
        if request.attempt < policy.max_attempts {
            let attempt = request.attempt + 1;
            let retry = StepRequest {
                step: self.new_step(),
                node: request.node,
                attempt,
                iteration: request.iteration,
                delay_ms: policy.delay_ms(attempt),
            };
            self.queue.push_back(retry);
            return Ok(AfterFailure::Retry(retry));
        }
        self.outcome = Some(Outcome::Failed {
            node: request.node,
            cause: FailureCause::Handler {
                attempts: request.attempt,
            },
        });
        Ok(AfterFailure::GiveUp)
    }

    fn new_step(&mut self) -> StepId {
        let id = StepId(self.next_step);
        self.next_step += 1;
        id
    }

    /// A token arrives at `node`: joins count arrivals, everything else activates.
    fn enter(&mut self, node: NodeIndex) {
        let i = node.get();
        self.arrived[i] += 1;
        if self.arrived[i] < self.plan.arrivals(node) {
            return;
        }
        self.arrived[i] = 0;
        self.entered[i] += 1;
        if let Some(max_iterations) = self.plan.node(node).max_iterations
            && self.entered[i] > max_iterations
        {
            self.outcome = Some(Outcome::Failed {
                node,
                cause: FailureCause::LoopBound { max_iterations },
            });
            return;
        }
        let step = self.new_step();
        self.queue.push_back(StepRequest {
            step,
            node,
            attempt: 1,
            iteration: self.entered[i],
            delay_ms: 0,
        });
    }

    fn check_stalled(&mut self, last: NodeIndex) {
        if self.outcome.is_none() && self.queue.is_empty() && self.running.is_empty() {
            self.outcome = Some(Outcome::Failed {
                node: last,
                cause: FailureCause::Stalled,
            });
        }
    }
}

#[cfg(test)]
mod tests;
