//! Pure logic: no files, no sockets. Values in, values out — which is what
//! lets the tests compare it against OpenSSL and sendmail on many inputs.

pub mod access;
pub mod access_check;
pub mod causes;
pub mod cert;
pub mod chain;
pub mod dane;
pub mod der;
pub mod dn;
pub mod fqdn;
pub mod linediff;
pub mod m4;
pub mod maillog;
mod oid_names;
pub mod p12;
pub mod pem;
pub mod pki;
pub mod policy;
pub mod rehash;
pub mod sendmail_cf;
pub mod tar;
pub mod tokens;
pub mod verify;
