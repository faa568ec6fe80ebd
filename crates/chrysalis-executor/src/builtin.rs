//! Built-in handlers a flow file can name without any Rust code:
//!
//! | name | parameters | does |
//! |---|---|---|
//! | `noop` | – | nothing |
//! | `log` | `message` | reports the message in the trace |
//! | `sleep` | `duration_ms` (required) | waits, on tokio's clock |
//! | `fail` | `message` | fails with the message |
//! | `flaky` | `failures` (default 1) | fails its first `failures` attempts, then succeeds |
//! | `choose` | `branches` (required, comma-separated) | a decision: the n-th entry picks the n-th branch, the last repeats |

use std::time::Duration;

use crate::handler::{HandlerError, HandlerRegistry, StepContext, StepOutput};

/// Registers every built-in handler.
pub fn register_all(registry: &mut HandlerRegistry) {
    registry
        .register("noop", |_ctx: StepContext| async { Ok(StepOutput::done()) })
        .register("log", |ctx: StepContext| async move {
            Ok(StepOutput::message(
                ctx.param_text("message").unwrap_or_default(),
            ))
        })
        .register("sleep", |ctx: StepContext| async move {
            let duration_ms = ctx
                .param_u64("duration_ms")?
                .ok_or_else(|| HandlerError::bad_parameter("duration_ms", "is required"))?;
            tokio::time::sleep(Duration::from_millis(duration_ms)).await;
            Ok(StepOutput::message(format!("slept {duration_ms} ms")))
        })
        .register("fail", |ctx: StepContext| async move {
            let message = ctx
                .param_text("message")
                .unwrap_or_else(|| "failed on purpose".to_owned());
            Err(HandlerError::failed(message))
        })
        .register("flaky", |ctx: StepContext| async move {
            let failures = ctx.param_u64("failures")?.unwrap_or(1);
            if u64::from(ctx.attempt) <= failures {
                return Err(HandlerError::failed(format!(
                    "flaky failure on attempt {}",
                    ctx.attempt
                )));
            }
            Ok(StepOutput::message(format!(
                "succeeded on attempt {}",
                ctx.attempt
            )))
        })
        .register("choose", |ctx: StepContext| async move { choose(&ctx) });
}

fn choose(ctx: &StepContext) -> Result<StepOutput, HandlerError> {
    let list = ctx
        .param_text("branches")
        .ok_or_else(|| HandlerError::bad_parameter("branches", "is required"))?;
    let branches: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    let index = (ctx.iteration.max(1) as usize - 1).min(branches.len().saturating_sub(1));
    let branch = branches
        .get(index)
        .ok_or_else(|| HandlerError::bad_parameter("branches", "must name at least one branch"))?;
    Ok(StepOutput {
        branch: Some((*branch).to_owned()),
        message: Some(format!("chose {branch}")),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrysalis_flow::{FlowId, NodeName, ParamValue, Params};

    use super::*;

    fn ctx(attempt: u32, iteration: u32, params: &[(&str, ParamValue)]) -> StepContext {
        let params: Params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        StepContext {
            flow: FlowId::from("f"),
            node: NodeName::from("n"),
            attempt,
            iteration,
            params: Arc::new(params),
        }
    }

    async fn call(name: &str, ctx: StepContext) -> Result<StepOutput, HandlerError> {
        let registry = HandlerRegistry::with_builtins();
        registry.get(name).unwrap().call(ctx).await
    }

    #[tokio::test(start_paused = true)]
    async fn builtins_behave_as_documented() {
        let text = |s: &str| ParamValue::Text(s.to_owned());
        assert_eq!(call("noop", ctx(1, 1, &[])).await, Ok(StepOutput::done()));
        assert_eq!(
            call("log", ctx(1, 1, &[("message", text("hi"))])).await,
            Ok(StepOutput::message("hi"))
        );
        let before = tokio::time::Instant::now();
        call(
            "sleep",
            ctx(1, 1, &[("duration_ms", ParamValue::Integer(250))]),
        )
        .await
        .unwrap();
        assert_eq!(before.elapsed(), Duration::from_millis(250));
        assert_eq!(
            call("fail", ctx(1, 1, &[("message", text("boom"))])).await,
            Err(HandlerError::failed("boom"))
        );
        let flaky = [("failures", ParamValue::Integer(2))];
        assert!(call("flaky", ctx(2, 1, &flaky)).await.is_err());
        assert!(call("flaky", ctx(3, 1, &flaky)).await.is_ok());
        let branches = [("branches", text("revise, approve"))];
        assert_eq!(
            call("choose", ctx(1, 1, &branches))
                .await
                .unwrap()
                .branch
                .as_deref(),
            Some("revise")
        );
        assert_eq!(
            call("choose", ctx(1, 5, &branches))
                .await
                .unwrap()
                .branch
                .as_deref(),
            Some("approve")
        );
    }

    #[tokio::test]
    async fn bad_parameters_are_errors() {
        let cases = [
            ("sleep", vec![], "parameter \"duration_ms\" is required"),
            (
                "sleep",
                vec![("duration_ms", ParamValue::Integer(-1))],
                "parameter \"duration_ms\" must not be negative",
            ),
            (
                "sleep",
                vec![("duration_ms", ParamValue::Bool(true))],
                "parameter \"duration_ms\" must be a whole number",
            ),
            ("choose", vec![], "parameter \"branches\" is required"),
            (
                "choose",
                vec![("branches", ParamValue::Text(" , ".into()))],
                "parameter \"branches\" must name at least one branch",
            ),
        ];
        for (name, params, expected) in cases {
            let err = call(name, ctx(1, 1, &params)).await.unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
    }
}
