//! wire/: zero-copy packet views with parse and emit, and Internet checksums. Sans-IO.
