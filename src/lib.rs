//! starttls-studio: a private CA, certificates, the sendmail access map and
//! live STARTTLS tests, for sendmail administrators.
//!
//! Four layers, each using only those before it: `core` (pure logic: DER,
//! names, hashes, certificates, the access map, the policy evaluator),
//! `store` (the disk: the home, atomic writes, rehash, install, doctor),
//! `net` (sockets and TLS: the probe, the embedded server, and the setup
//! that reads their files), then the two thin faces `cli` and `gui`, which
//! call the same functions. `fuzzing` holds the fuzz target bodies.

#![forbid(unsafe_code)]

pub mod cli;
pub mod core;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "gui")]
pub mod gui;
pub mod net;
pub mod store;

/// The desktop and AppStream id: the name of the `.desktop` file, the
/// metainfo and the icons under `packaging/`, and the window's app id (the
/// desktop environment matches the window to its `.desktop` file by it).
pub const APP_ID: &str = "io.github.starttls_studio.StarttlsStudio";
