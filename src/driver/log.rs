//! driver/log: the driver's few messages to the user, and the C libraries' (libbpf,
//! libxdp) routed through them. Notices always go to stderr as one `xstack:` line;
//! the libraries' chatter only with `-v` ([`set_verbose`]).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows (or hides, the default) the libraries' messages and the driver's details.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Relaxed);
    #[cfg(feature = "xdp")]
    super::xdp::program::route_library_messages();
}

pub fn verbose() -> bool {
    VERBOSE.load(Relaxed)
}

/// One sentence the user should see.
pub fn notice(msg: &str) {
    eprintln!("xstack: {msg}");
}

/// A library's message, shown only with `-v`.
pub fn library(name: &str, msg: &str) {
    if verbose() {
        eprintln!("{name}: {msg}");
    }
}
