//! proto/tcp: the TCP state machine (RFC 9293), sans-IO.
