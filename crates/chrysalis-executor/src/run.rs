//! The async shell around [`Planner`]: it starts what the planner asks for as
//! tokio tasks (so parallel branches really run at once), applies timeouts and
//! backoff, reports results back, and writes every step to the sink.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrysalis_flow::{
    AfterFailure, FailureCause, Flow, FlowId, NodeName, Outcome, Plan, Planner, PlannerError,
    Report, StepId, StepRequest,
};
use thiserror::Error;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use crate::cancel::CancelToken;
use crate::handler::{HandlerRegistry, StepContext, StepOutput};
use crate::sink::{StepEvent, StepRecord, StepSink};

/// Why a run did not complete.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The flow has validation errors (only from [`run_flow`]).
    #[error("flow is invalid ({})", .0.summary())]
    Invalid(Report),
    /// A node names a handler the registry lacks.
    #[error("node {node_name:?} names handler {handler:?}, which is not registered", node_name = .node.as_str())]
    UnknownHandler {
        /// The node.
        node: NodeName,
        /// The missing handler.
        handler: String,
    },
    /// A handler failed on its last allowed attempt.
    #[error("node {node_name:?} failed after {attempts} attempt(s): {error}", node_name = .node.as_str())]
    StepFailed {
        /// The node.
        node: NodeName,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error text.
        error: String,
    },
    /// A loop ran past its bound.
    #[error("node {node_name:?} was entered more than its max_iterations = {max_iterations} times", node_name = .node.as_str())]
    LoopBound {
        /// The bounded node.
        node: NodeName,
        /// The bound.
        max_iterations: u32,
    },
    /// Nothing could run any more, yet no end node was reached.
    #[error("run stalled after node {node_name:?}: a join waits for a branch that never comes", node_name = .node.as_str())]
    Stalled {
        /// The last node that finished.
        node: NodeName,
    },
    /// The cancel token fired.
    #[error("run cancelled")]
    Cancelled,
    /// The runner reported a step the planner did not expect (a bug in the runner).
    #[error(transparent)]
    Planner(#[from] PlannerError),
}

/// What a completed run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// The flow.
    pub flow: FlowId,
    /// The end node that completed it.
    pub end: NodeName,
    /// Handler calls made, retries included.
    pub steps: u64,
    /// Retries among them.
    pub retries: u64,
    /// Duration on tokio's clock.
    pub elapsed_ms: u64,
}

/// Validates `flow` against `registry` and runs it (see [`run`]).
pub async fn run_flow(
    flow: &Flow,
    registry: &HandlerRegistry,
    sink: Arc<dyn StepSink>,
    cancel: CancelToken,
) -> Result<RunSummary, ExecError> {
    let plan = Plan::new(flow, registry).map_err(ExecError::Invalid)?;
    run(Arc::new(plan), registry, sink, cancel).await
}

/// Stamps and forwards trace records; shared with the step tasks.
struct Recorder {
    sink: Arc<dyn StepSink>,
    flow: FlowId,
    seq: AtomicU64,
    started: Instant,
}

impl Recorder {
    fn record(&self, node: &NodeName, request: &StepRequest, event: StepEvent) {
        let record = StepRecord {
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            flow: self.flow.clone(),
            node: node.clone(),
            step: request.step,
            attempt: request.attempt,
            event,
        };
        self.sink.record(&record);
    }
}

type StepResult = (StepId, Result<StepOutput, String>);

/// The run's mutable state besides the planner.
struct Runner<'r> {
    plan: Arc<Plan>,
    registry: &'r HandlerRegistry,
    recorder: Arc<Recorder>,
    tasks: JoinSet<StepResult>,
    task_steps: HashMap<Id, StepId>,
    requests: HashMap<StepId, StepRequest>,
    last_error: Option<String>,
    steps: u64,
    retries: u64,
}

/// Runs a validated plan to its end, a failure, or cancellation. Every step is
/// recorded in `sink`; handlers come from `registry`.
pub async fn run(
    plan: Arc<Plan>,
    registry: &HandlerRegistry,
    sink: Arc<dyn StepSink>,
    cancel: CancelToken,
) -> Result<RunSummary, ExecError> {
    for (_, node) in plan.nodes() {
        if registry.get(node.handler.as_str()).is_none() {
            return Err(ExecError::UnknownHandler {
                node: node.name.clone(),
                handler: node.handler.to_string(),
            });
        }
    }
    let recorder = Arc::new(Recorder {
        sink,
        flow: plan.flow_id().clone(),
        seq: AtomicU64::new(0),
        started: Instant::now(),
    });
    let mut planner = Planner::new(Arc::clone(&plan));
    let mut runner = Runner {
        plan,
        registry,
        recorder,
        tasks: JoinSet::new(),
        task_steps: HashMap::new(),
        requests: HashMap::new(),
        last_error: None,
        steps: 0,
        retries: 0,
    };
    loop {
        while let Some(request) = planner.next_request() {
            runner.spawn(request);
        }
        if let Some(outcome) = planner.outcome() {
            runner.stop().await;
            return runner.finish(outcome);
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                runner.stop().await;
                return Err(ExecError::Cancelled);
            }
            joined = runner.tasks.join_next_with_id() => {
                let (step, result) = match joined {
                    Some(Ok((id, done))) => {
                        runner.task_steps.remove(&id);
                        done
                    }
                    Some(Err(err)) => match runner.task_steps.remove(&err.id()) {
                        Some(step) => (step, Err(format!("handler panicked: {err}"))),
                        None => continue,
                    },
                    // The planner declares a stall before the task set can run dry;
                    // should it ever not, end the run rather than spin.
                    None => {
                        let node = runner.plan.node(runner.plan.start()).name.clone();
                        return Err(ExecError::Stalled { node });
                    }
                };
                runner.report(&mut planner, step, result)?;
            }
        }
    }
}

impl Runner<'_> {
    fn spawn(&mut self, request: StepRequest) {
        let node = self.plan.node(request.node);
        let Some(handler) = self.registry.get(node.handler.as_str()) else {
            // Checked before the run started; an attempt without a handler fails.
            let step = request.step;
            let id = self
                .tasks
                .spawn(async move { (step, Err("handler vanished".to_owned())) })
                .id();
            self.task_steps.insert(id, step);
            self.requests.insert(step, request);
            return;
        };
        let ctx = StepContext {
            flow: self.plan.flow_id().clone(),
            node: node.name.clone(),
            attempt: request.attempt,
            iteration: request.iteration,
            params: Arc::clone(&node.params),
        };
        let timeout_ms = node.timeout_ms;
        let recorder = Arc::clone(&self.recorder);
        self.steps += 1;
        let id = self
            .tasks
            .spawn(async move {
                if request.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
                }
                recorder.record(&ctx.node, &request, StepEvent::Started);
                let call = handler.call(ctx);
                let result = match timeout_ms {
                    None => call.await.map_err(|e| e.to_string()),
                    Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), call).await {
                        Ok(result) => result.map_err(|e| e.to_string()),
                        Err(_) => Err(format!("timed out after {ms} ms")),
                    },
                };
                (request.step, result)
            })
            .id();
        self.task_steps.insert(id, request.step);
        self.requests.insert(request.step, request);
    }

    fn report(
        &mut self,
        planner: &mut Planner,
        step: StepId,
        result: Result<StepOutput, String>,
    ) -> Result<(), ExecError> {
        let Some(request) = self.requests.remove(&step) else {
            return Err(PlannerError::UnknownStep(step).into());
        };
        let name = &self.plan.node(request.node).name;
        match result {
            Ok(output) => {
                planner.succeeded(step, output.branch.as_deref())?;
                let event = StepEvent::Finished {
                    branch: output.branch,
                    message: output.message,
                };
                self.recorder.record(name, &request, event);
            }
            Err(error) => {
                self.recorder.record(
                    name,
                    &request,
                    StepEvent::Failed {
                        error: error.clone(),
                    },
                );
                match planner.failed(step)? {
                    AfterFailure::Retry(next) => {
                        self.retries += 1;
                        let event = StepEvent::Retrying {
                            next_attempt: next.attempt,
                            delay_ms: next.delay_ms,
                        };
                        self.recorder.record(name, &request, event);
                    }
                    AfterFailure::GiveUp => self.last_error = Some(error),
                }
            }
        }
        Ok(())
    }

    /// Aborts every step still running and records it as cancelled.
    async fn stop(&mut self) {
        self.tasks.shutdown().await;
        let mut open: Vec<StepRequest> = self.requests.drain().map(|(_, r)| r).collect();
        open.sort_by_key(|r| r.step);
        for request in open {
            let name = &self.plan.node(request.node).name;
            self.recorder.record(name, &request, StepEvent::Cancelled);
        }
        self.task_steps.clear();
    }

    fn finish(self, outcome: Outcome) -> Result<RunSummary, ExecError> {
        match outcome {
            Outcome::Completed { end } => Ok(RunSummary {
                flow: self.plan.flow_id().clone(),
                end: self.plan.node(end).name.clone(),
                steps: self.steps,
                retries: self.retries,
                elapsed_ms: u64::try_from(self.recorder.started.elapsed().as_millis())
                    .unwrap_or(u64::MAX),
            }),
            Outcome::Failed { node, cause } => {
                let node = self.plan.node(node).name.clone();
                Err(match cause {
                    FailureCause::Handler { attempts } => ExecError::StepFailed {
                        node,
                        attempts,
                        error: self.last_error.unwrap_or_default(),
                    },
                    FailureCause::LoopBound { max_iterations } => ExecError::LoopBound {
                        node,
                        max_iterations,
                    },
                    _ => ExecError::Stalled { node },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
