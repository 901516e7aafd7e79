//! One graceful-shutdown signal for every task of the daemon (as
//! mini-redis's `Shutdown`): SIGTERM or SIGINT asks once; each task checks
//! [`Shutdown::is_requested`] between units of work, or waits on
//! [`Shutdown::requested`] beside whatever else it waits for, finishes
//! what it has in hand (the batch commits and moves), and returns.

use tokio::sync::watch;

/// The side that asks for the stop.
pub struct Trigger(watch::Sender<bool>);

/// A task's view of the stop: cheap to clone, one per task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A trigger and the first view of it.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Asks every task to stop.
    pub fn request(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is asked for (at once if it was already), or
    /// once the trigger is gone, which no one can ask through any more.
    pub async fn requested(&mut self) {
        if !self.is_requested() {
            let _ = self.0.changed().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_asked_for_reaches_every_view_once_and_for_all() {
        let (trigger, mut a) = channel();
        let mut b = a.clone();
        assert!(!a.is_requested());
        let waiting = tokio::spawn(async move {
            b.requested().await;
            b.is_requested()
        });
        trigger.request();
        assert!(waiting.await.unwrap());
        assert!(a.is_requested());
        // Already asked: no wait.
        a.requested().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_ends_the_wait() {
        let (trigger, mut a) = channel();
        drop(trigger);
        a.requested().await;
        assert!(!a.is_requested());
    }
}
