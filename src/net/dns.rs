//! A small DNS client for one question: the TLSA records of a name
//! (`_25._tcp.mx.example.org`), asked of one server over UDP (and again
//! over TCP when the answer was truncated). No recursion of its own, no
//! DNSSEC validation: it reads what the server answers, for
//! `cert renew --next-key --check-dns` and `dane check`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub mtype: u8,
    /// The association data, lowercase hex.
    pub data: String,
}

impl std::fmt::Display for Tlsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage, self.selector, self.mtype, self.data
        )
    }
}

const TLSA: u16 = 52;
const TIMEOUT: Duration = Duration::from_secs(3);

fn query(name: &str, id: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("`{name}` is not a valid DNS name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TLSA.to_be_bytes());
    q.extend_from_slice(&[0, 1]); // IN
    Ok(q)
}

fn skip_name(m: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let l = *m.get(i)?;
        if l & 0xc0 == 0xc0 {
            return Some(i + 2);
        }
        if l == 0 {
            return Some(i + 1);
        }
        i += 1 + l as usize;
    }
}

fn u16_at(m: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]))
}

/// (truncated, rcode, records)
fn parse(m: &[u8], id: u16) -> Result<(bool, u8, Vec<Tlsa>), String> {
    let bad = || "a malformed DNS answer".to_string();
    if m.len() < 12 || u16_at(m, 0) != Some(id) {
        return Err(bad());
    }
    let tc = m[2] & 0x02 != 0;
    let rcode = m[3] & 0x0f;
    let qd = u16_at(m, 4).ok_or_else(bad)?;
    let an = u16_at(m, 6).ok_or_else(bad)?;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(m, i).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(m, i).ok_or_else(bad)?;
        let ty = u16_at(m, i).ok_or_else(bad)?;
        let len = u16_at(m, i + 8).ok_or_else(bad)? as usize;
        let rdata = m.get(i + 10..i + 10 + len).ok_or_else(bad)?;
        i += 10 + len;
        if ty == TLSA && rdata.len() >= 3 {
            out.push(Tlsa {
                usage: rdata[0],
                selector: rdata[1],
                mtype: rdata[2],
                data: rdata[3..].iter().map(|b| format!("{b:02x}")).collect(),
            });
        }
    }
    Ok((tc, rcode, out))
}

/// `SERVER` or `SERVER:PORT` (port 53 by default).
pub fn server_addr(server: &str) -> Result<SocketAddr, String> {
    let with_port = if server.parse::<std::net::IpAddr>().is_ok() || !server.contains(':') {
        format!("{server}:53")
    } else {
        server.to_string()
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("DNS server `{server}`: {e}"))?
        .next()
        .ok_or_else(|| format!("DNS server `{server}`: no address"))
}

/// The TLSA records of `name` as `server` answers (empty when it has
/// none).
pub fn tlsa(server: &str, name: &str) -> Result<Vec<Tlsa>, String> {
    let addr = server_addr(server)?;
    let mut idb = [0u8; 2];
    aws_lc_rs::rand::fill(&mut idb).map_err(|_| "no randomness".to_string())?;
    let id = u16::from_be_bytes(idb);
    let q = query(name, id)?;
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let mut answer = None;
    for _ in 0..2 {
        sock.send_to(&q, addr)
            .map_err(|e| format!("asking {addr}: {e}"))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == addr => {
                answer = Some(buf[..n].to_vec());
                break;
            }
            Ok(_) => continue,
            Err(_) => continue,
        }
    }
    let answer = answer.ok_or_else(|| {
        format!(
            "{addr} did not answer (twice, {} s each)",
            TIMEOUT.as_secs()
        )
    })?;
    let (tc, rcode, mut recs) = parse(&answer, id)?;
    if tc {
        let mut s =
            TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr} (TCP): {e}"))?;
        s.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        s.write_all(&framed).map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(|e| e.to_string())?;
        let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut m).map_err(|e| e.to_string())?;
        let (_, rc, r) = parse(&m, id)?;
        if rc != 0 && rc != 3 {
            return Err(format!("{addr} answered with error code {rc}"));
        }
        recs = r;
    } else if rcode != 0 && rcode != 3 {
        return Err(format!("{addr} answered with error code {rcode}"));
    }
    recs.sort();
    recs.dedup();
    Ok(recs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_and_bad_ones_refused() {
        let q = query("_25._tcp.mx.example.org", 7).unwrap();
        // the query, turned into an answer with one TLSA record (name by pointer)
        let mut a = q.clone();
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = 1;
        a.extend_from_slice(&[
            0xc0, 0x0c, 0, 52, 0, 1, 0, 0, 0, 60, 0, 5, 3, 1, 1, 0xab, 0xcd,
        ]);
        let (tc, rc, r) = parse(&a, 7).unwrap();
        assert!(!tc && rc == 0);
        assert_eq!(r[0].to_string(), "3 1 1 abcd");
        assert!(parse(&a, 8).is_err());
        for cut in 0..a.len() {
            let _ = parse(&a[..cut], 7);
        }
        assert!(query("a..b", 1).is_err());
    }
}
