//! The contract between the worker loop (`runtime/`) and what it drives: a stack and the
//! applications on it. It is defined here, below the runtime, so that the runtime names
//! the stack and never the other way round.

use crate::driver::{Transmit, Verdict};
use crate::time::Instant;

/// What a worker drives: the stack plus its applications. Sans-IO: it is handed the time
/// and the frames, and writes what it sends into the driver's buffers.
pub trait Engine {
    /// Handles one received frame; may rewrite it in place and reflect it, and may send
    /// other frames through `tx`.
    fn on_frame(&mut self, now: Instant, frame: &mut [u8], tx: &mut dyn Transmit) -> Verdict;

    /// Runs timers and sends whatever is due. Called after every batch.
    fn poll(&mut self, now: Instant, tx: &mut dyn Transmit);

    /// The next time `poll` has work to do, if any.
    fn poll_at(&self) -> Option<Instant>;

    /// True once the engine's work is done (a bounded load run); the worker then returns.
    fn finished(&self) -> bool {
        false
    }
}
