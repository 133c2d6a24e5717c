//! What the stacks of one run tell each other when each holds a share of the TCP
//! connections (one stack per worker, one worker per receive queue). The stack asks before
//! it makes a connection for a peer that opened one (a SYN, or the ACK of a SYN cookie)
//! whether it may own that 4-tuple, and says when the connection leaves its table; and it
//! says when it answered a SYN with a cookie, so that whichever stack the cookie's ACK
//! reaches checks it (they share the cookie secret).
//!
//! The trait is defined here and implemented by the runtime's steering layer, which
//! decides which worker a frame goes to; the stack knows nothing of workers or queues.
//! A stack without one (a single worker, `load`, the tests of one stack) owns every
//! connection it makes.

use super::table::FlowKey;
use crate::time::Instant;

/// The connections of one run, shared between its stacks. All stacks of a run read one
/// clock, so an [`Instant`] means the same to all of them.
pub trait Ownership: Send + Sync {
    /// May this stack make a connection for `key`, which a peer opens? When it may, the
    /// answer is recorded, and frames of `key` reach this stack until [`release`]; when
    /// not, another stack holds `key` (or is the one to), and the stack drops the segment
    /// without answering it: the peer's retransmission reaches the owner.
    ///
    /// [`release`]: Ownership::release
    fn claim(&self, key: &FlowKey) -> bool;

    /// The connection of `key` that [`claim`](Ownership::claim) allowed has left the
    /// table.
    fn release(&self, key: &FlowKey);

    /// This stack answered a SYN with a cookie at `now`.
    fn cookie_sent(&self, now: Instant);

    /// When a stack of the run last answered a SYN with a cookie (to within a second),
    /// if one did.
    fn last_cookie(&self) -> Option<Instant>;
}
