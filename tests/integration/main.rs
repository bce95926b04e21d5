//! One integration test binary (linking happens once). Each module runs the
//! real `starttls-studio` binary, usually against a real peer program.

mod support;

mod access_cli;
mod bad_input;
mod bundle_cli;
mod ca_life;
mod cli_pki;
mod concurrency;
mod crash_safety;
mod crl_cli;
mod dane_dns;
mod debian_system;
mod doctor_cli;
mod fuzz_corpus;
mod gui;
mod gui_snapshots;
mod layers;
mod limits;
mod log_explain;
mod mc_m4;
mod p12_cli;
mod packaging;
mod policy_diff;
mod probe_peer;
mod rehash_diff;
mod secrets;
mod sendmail_peer;
mod serve_audit;
mod serve_faults;
mod serve_flood;
mod serve_more;
mod serve_peer;
mod show_diff;
mod trust_cli;
