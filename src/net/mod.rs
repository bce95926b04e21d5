//! Sockets and TLS: the probe client (and, later, the embedded server).
//! Blocking sockets with `TCP_NODELAY` and timeouts on every read and write.

pub mod names;
pub mod probe;
pub mod server;
