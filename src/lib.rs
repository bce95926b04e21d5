//! starttls-studio: a private CA, certificates, the sendmail access map and
//! live STARTTLS tests, for sendmail administrators.
//!
//! `core` is pure logic, `store` touches the disk; `cli` and `gui` are two
//! thin faces that call the same functions.

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
