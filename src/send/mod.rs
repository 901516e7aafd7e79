//! Where mail goes. A transport takes one rendered message and its
//! envelope; the outbox drainer decides retries from the error kind.

pub mod im;
pub mod maildir;
pub mod smtp;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (4xx, connection refused, disk full, …).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will not succeed (5xx): recorded, not retried.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub trait Transport {
    /// Sends one message. `message_id` makes a retry after a crash
    /// idempotent where the transport can tell (the Maildir one can).
    fn send(
        &mut self,
        from: &str,
        rcpts: &[String],
        message_id: &str,
        bytes: &[u8],
    ) -> Result<(), SendError>;

    /// Makes what `send` accepted durable. Called once per batch, before
    /// the batch is recorded as sent; an error turns the batch into retries.
    fn flush(&mut self) -> Result<(), SendError> {
        Ok(())
    }
}
