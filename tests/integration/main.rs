//! One integration test binary (linking happens once). Each module runs the
//! real `starttls-studio` binary, usually against a real peer program.

mod common;

mod cli_pki;
mod rehash_diff;
mod sendmail_peer;
mod show_diff;
