//! starttls-studio: a private CA, certificates, the sendmail access map and
//! live STARTTLS tests, for sendmail administrators.
//!
//! `core` is pure logic, `store` touches the disk; `cli` and `gui` are two
//! thin faces that call the same functions.

#![forbid(unsafe_code)]

pub mod cli;
pub mod core;
pub mod gui;
pub mod net;
pub mod store;
