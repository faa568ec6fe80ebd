//! Cooperative cancellation of a run.

use std::sync::Arc;

use tokio::sync::watch;

/// Cancels a run from anywhere: clone it, hand one clone to [`crate::run`], call
/// [`CancelToken::cancel`] on another. The run then aborts every running handler.
#[derive(Clone, Debug)]
pub struct CancelToken {
    state: Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        let (state, _) = watch::channel(false);
        Self {
            state: Arc::new(state),
        }
    }

    /// Cancels every run holding a clone of this token.
    pub fn cancel(&self) {
        self.state.send_replace(true);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        *self.state.borrow()
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        let mut seen = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = seen.wait_for(|cancelled| *cancelled).await;
    }
}
