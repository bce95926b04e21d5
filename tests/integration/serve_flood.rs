//! `serve` with its defaults under the loads a real host sees: an idle
//! flood from one address must not lock out a live client from another,
//! a thousand concurrent sessions from one client all complete, and both
//! at once. At the session limit, stress mode (Postfix's idea: silent
//! clients get `STRESS_TIMEOUT` instead of the full timeout) frees the
//! slots an idle flood holds.

use crate::support::{read_reply, tempdir, Pki, Serve};
use std::ffi::OsString;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A connection from `source` (127.0.0.2, 127.0.0.3, …) that has read the
/// greeting.
fn connect_from(source: [u8; 4], port: u16) -> BufReader<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = (source, 0).into();
    sock.bind(&from.into()).unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect_timeout(&to.into(), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("connect from {source:?}: {e}"));
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s);
    let g = read_reply(&mut r);
    assert!(g.starts_with("220 "), "greeting: {g:?}");
    r
}

/// One command and its reply.
fn say(r: &mut BufReader<TcpStream>, line: &str) -> String {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    read_reply(r)
}

/// A whole plain session after the greeting: EHLO, MAIL, RCPT to a local
/// recipient, QUIT. Returns the replies' codes.
fn finish(r: &mut BufReader<TcpStream>) -> String {
    let mut codes = Vec::new();
    for cmd in [
        "EHLO client.example.net",
        "MAIL FROM:<a@client.example.net>",
        "RCPT TO:<postmaster@mx.studio.test>",
        "QUIT",
    ] {
        codes.push(say(r, cmd).chars().take(3).collect::<String>());
    }
    codes.join(" ")
}

fn counts(serve: &Serve) -> String {
    format!("{} fds, {} threads", serve.fds(), serve.threads())
}

/// 200 idle from 127.0.0.2, a live client from 127.0.0.3, and 1,000
/// sessions at once from 127.0.0.4, all against the defaults.
#[test]
fn idle_flood_and_a_thousand_sessions_with_the_defaults() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home).host("mx.studio.test").make();
    let serve = Serve::start(home, &[]);
    let before = counts(&serve);

    let idle: Vec<_> = (0..200)
        .map(|_| connect_from([127, 0, 0, 2], serve.port))
        .collect();
    let flooded = counts(&serve);
    let mut live = connect_from([127, 0, 0, 3], serve.port);
    assert_eq!(
        finish(&mut live),
        "250 250 250 221",
        "the live client is served"
    );

    // 1,000 at once from one client, on 20 threads; all held open (greeted)
    // before any finishes, then each completes.
    let port = serve.port;
    let held: Vec<Vec<BufReader<TcpStream>>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(move || {
                    (0..50)
                        .map(|_| connect_from([127, 0, 0, 4], port))
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let peak = counts(&serve);
    let results: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = held
            .into_iter()
            .map(|group| {
                s.spawn(move || {
                    group
                        .into_iter()
                        .map(|mut r| finish(&mut r))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|c| *c == "250 250 250 221").count();
    assert_eq!(ok, 1000, "every session completes: {:?}", &results[..5]);
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while serve.threads() > 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "serve defaults: before {before}; 200 idle {flooded}; + 1,000 held {peak}; after {}",
        counts(&serve)
    );
}

/// At the limit, silent clients are cut off after `STRESS_TIMEOUT`, not
/// the full timeout, and new clients get slots again.
#[test]
fn stress_mode_frees_slots_an_idle_flood_holds() {
    let t = tempdir();
    let home = t.path();
    Pki::new(home).host("mx.studio.test").make();
    let args: Vec<OsString> = ["--max-sessions", "40"]
        .iter()
        .map(OsString::from)
        .collect();
    let serve = Serve::start(home, &args);
    // 40 silent clients fill every slot (the default timeout is 300 s).
    let idle: Vec<_> = (0..40)
        .map(|_| connect_from([127, 0, 0, 2], serve.port))
        .collect();
    let filled = Instant::now();
    // Within the stress timeout (10 s) they are closed; a live client is
    // then served.
    let deadline = filled + Duration::from_secs(25);
    let mut served = None;
    while Instant::now() < deadline {
        let s = TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s);
        if read_reply(&mut r).starts_with("220 ") {
            served = Some((filled.elapsed(), finish(&mut r)));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (after, codes) = served.expect("no slot came free within 25 s");
    assert_eq!(codes, "250 250 250 221");
    assert!(
        after >= Duration::from_secs(8) && after < Duration::from_secs(20),
        "slots freed {after:?} after the flood (stress timeout 10 s)"
    );
    drop(idle);
}
