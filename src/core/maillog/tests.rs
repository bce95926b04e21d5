//! Lines recorded from the reference peer (sendmail 8.17.1.9); the corpus
//! test in tests/integration/log_explain.rs covers every situation.

use super::*;

const SESSION: &str = "\
Dec  3 23:33:40 sm-peer[26182]: NOQUEUE: connect from [127.0.0.3]
Dec  3 23:33:40 sm-peer[26182]: 6B3NXe7Q026182: Milter: no active filter
Dec  3 23:33:40 sm-peer[26182]: STARTTLS=server, relay=[127.0.0.3], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256
Dec  3 23:33:40 sm-peer[26182]: STARTTLS=server, cert-subject=, cert-issuer=, verifymsg=ok
Dec  3 23:33:40 sm-peer[26182]: 6B3NXe7R026182: ruleset=check_rcpt, arg1=<b@remote.example>, relay=[127.0.0.3], reject=550 5.7.1 <b@remote.example>... Relaying denied. IP name lookup failed [127.0.0.3]
Dec  3 23:33:40 sm-peer[26182]: 6B3NXe7R026182: from=<a@x.example>, size=0, class=0, nrcpts=0, proto=ESMTPS, daemon=MTA, relay=[127.0.0.3]
Dec  3 23:33:40 sm-peer[26180]: STARTTLS=server, relay=[127.0.0.2], version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256
Dec  3 23:33:41 kernel: something else
";

fn run(text: &str, access: Option<&str>) -> Vec<Explained> {
    let access = access.map(|a| {
        (
            crate::core::access::AccessMap::parse(a.as_bytes()).database(),
            Options::default(),
        )
    });
    let mut e = Explainer::new(access);
    text.lines()
        .enumerate()
        .map(|(i, l)| e.explain_line(i as u64 + 1, l))
        .collect()
}

#[test]
fn a_session_is_grouped_and_explained() {
    let out = run(SESSION, None);
    assert_eq!(out.len(), 8);
    let s = out[0].session.unwrap();
    assert!(out[..6].iter().all(|e| e.session == Some(s)), "{out:#?}");
    assert_ne!(out[6].session, Some(s));
    assert_eq!(out[2].cause_id, Some("no-client-cert"));
    assert_eq!(out[2].macros["verify"], "NO");
    assert_eq!(out[2].macros["client_addr"], "127.0.0.3");
    let denied = &out[4];
    assert_eq!(denied.cause_id, Some("relay-no-cert"));
    assert!(denied.cause.as_deref().unwrap().contains("not the reason"));
    assert_eq!(denied.peer.as_deref(), Some("[127.0.0.3]"));
    assert_eq!(denied.qid.as_deref(), Some("6B3NXe7R026182"));
    assert!(out[5].summary.as_deref().unwrap().contains("over TLS"));
    assert!(!out[7].known);
    assert!(out[7].cause.as_deref().unwrap().contains("kernel"));
}

#[test]
fn a_refusal_is_replayed_through_the_evaluator() {
    let out = run(SESSION, Some("Connect:127.0.0.9 RELAY\n"));
    let d = out[4].decision.as_ref().expect("replayed");
    assert!(d.agrees, "{d:#?}");
}

#[test]
fn odd_input_never_panics() {
    let mut e = Explainer::default();
    for (i, l) in [
        "",
        "\u{0}\u{1}\u{fffd}",
        "STARTTLS=server, relay=",
        "STARTTLS=server: file ",
        "ruleset=",
        "to=",
        "from=, relay=",
        "STARTTLS=client, error: connect failed=",
        "{\"MESSAGE\": 5}",
        "Dec  3 23:33:40 sm-mta[x]: STARTTLS",
        "Dec  3 23:33:40 h sm-mta[4294967296]: y",
        "sm-mta[1]: QQQQQQQQQQ12345: to=<a>, stat=Deferred: 403 4.7.0 TLS handshake failed.",
    ]
    .iter()
    .enumerate()
    {
        let x = e.explain_line(i as u64 + 1, l);
        serde_json::to_string(&x).unwrap();
    }
}

/// Every line of the recorded corpus (and the odd ones above).
fn corpus_text() -> String {
    format!("{SESSION}{}", recorded_corpus())
}

/// The plain view leaves a line out by its shape, before explaining it:
/// exactly the lines whose explanation is a routine kind without a cause.
#[test]
fn routine_shapes_are_the_routine_explanations() {
    let text = corpus_text();
    let mut e = Explainer::default();
    let mut routine = 0;
    for (i, l) in text.lines().enumerate() {
        let f = frame::frame(l);
        let ev = e.feed(i as u64 + 1, l, f.as_ref());
        let x = e.explain(&ev);
        let by_kind = matches!(x.kind, Some("routine" | "connect" | "daemon" | "dh-init"))
            && x.cause.is_none();
        let by_shape = ev.shape.as_ref().is_some_and(Shape::is_routine);
        assert_eq!(by_kind, by_shape, "line {}: {l}", i + 1);
        routine += usize::from(by_shape);
    }
    assert!(routine > 100, "{routine}");
}

/// A queue id leads to the session that handed it out, even when that
/// process has since taken a new connection; a session forgotten (pushed
/// out of the ring) is not found again, and the tables stay bounded.
#[test]
fn a_queue_id_leads_to_its_own_session() {
    let log = "\
Dec  3 23:33:40 mx sm-mta[100]: NOQUEUE: connect from a.example [192.0.2.1]
Dec  3 23:33:40 mx sm-mta[100]: 6B3NXe7Q000100: from=<a@a.example>, size=1, class=0, nrcpts=1, proto=ESMTPS, daemon=MTA, relay=a.example [192.0.2.1]
Dec  3 23:33:41 mx sm-mta[100]: NOQUEUE: connect from b.example [192.0.2.2]
Dec  3 23:40:00 mx sm-mta[200]: 6B3NXe7Q000100: to=<x@c.example>, delay=00:06:20, mailer=esmtp, pri=1, relay=c.example. [192.0.2.3], dsn=4.0.0, stat=Deferred: Connection timed out
";
    let out = run(log, None);
    let a = out[0].session.unwrap();
    assert_eq!(out[1].session, Some(a));
    assert_ne!(out[2].session, Some(a));
    assert_eq!(out[3].session, Some(a), "{:#?}", out[3]);

    let mut e = Explainer::default();
    let first = e.explain_line(1, log.lines().nth(1).unwrap()).session;
    for i in 0..3 * MAX_SESSIONS as u32 {
        let l = format!(
            "Dec  3 23:33:40 mx sm-mta[{}]: 6B{:06}{:06}: from=<a@b>, size=1, class=0, nrcpts=1, proto=ESMTP, daemon=MTA, relay=[192.0.2.9]",
            1000 + i,
            i,
            i % 1_000_000
        );
        e.explain_line(u64::from(i) + 2, &l);
    }
    assert!(e.live.len() <= 2 * MAX_SESSIONS && e.qids.len() <= 2 * MAX_SESSIONS);
    let again = e
        .explain_line(10_000_000, log.lines().nth(3).unwrap())
        .session;
    assert!(again.is_some() && again != first, "{again:?} {first:?}");
}

/// The bits read as the plain rule reads them: the text before the first
/// `/`, trimmed, parsed.
#[test]
fn bits_read_as_the_plain_rule_reads_them() {
    for b in [
        "256/256",
        "256",
        "",
        "/",
        "/256",
        "56/128",
        " 128 /x",
        "+128/1",
        "-1/1",
        "4294967296/1",
        "4294967295",
        "12a/1",
        "١٢٨/1",
        "\u{a0}128/1",
        "128//",
        "0/0",
    ] {
        let plain = b
            .split('/')
            .next()
            .and_then(|h| h.trim().parse::<u32>().ok());
        assert_eq!(bits_of(b), plain, "{b:?}");
    }
}

/// A session line's verdict, as the summary takes it without explaining
/// the line, is what `explain` says of it: every side, verify value,
/// version and strength.
#[test]
fn a_session_verdict_is_what_explain_says() {
    let mut ex = Explainer::default();
    let mut n = 0;
    for side in ["server", "client"] {
        for verify in [
            "OK", "NO", "NOT", "FAIL", "NONE", "SOFTWARE", "TEMP", "PROTOCOL", "TRUSTED", "", "odd",
        ] {
            for version in ["TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3", ""] {
                for bits in ["256/256", "56/56", "127", "128/128", "", "x/1"] {
                    n += 1;
                    let line = format!(
                        "Dec  3 23:33:40 sm-peer[{n}]: STARTTLS={side}, relay=[127.0.0.3], version={version}, verify={verify}, cipher=C, bits={bits}"
                    );
                    let e = ex.explain_line(n, &line);
                    let side = if side == "server" {
                        Side::Server
                    } else {
                        Side::Client
                    };
                    assert_eq!(
                        session_verdict(side, version, verify, bits),
                        (e.severity, e.cause_id),
                        "{line}"
                    );
                }
            }
        }
    }
}

/// The plain view's explanation says what the full one says of every
/// recorded line (and of lines it does not know): the same summary,
/// cause, fix, severity and session, the line's text where it is shown.
#[test]
fn the_plain_explanation_prints_what_the_full_one_says() {
    let mut text = recorded_corpus();
    text.push_str(
        "Dec  4 00:00:00 kernel: usb 1-1: new device\n\u{1}\u{2} binary\n{\"MESSAGE\": cut\n",
    );
    each_event(&text, |ex, ev, l| {
        let (full, plain) = (ex.explain(ev), ex.explain_plain(ev));
        assert_eq!(
            (&plain.summary, &plain.cause, &plain.fix, plain.severity),
            (&full.summary, &full.cause, &full.fix, full.severity),
            "{l}"
        );
        assert_eq!(
            (plain.known, plain.session),
            (full.known, full.session),
            "{l}"
        );
        if !full.known {
            assert_eq!(plain.text, full.text, "{l}");
        }
    });
}

/// A side's texts read back as they were set: pieces of the line (copied
/// as one stretch), texts from elsewhere, empty ones, a certificate line's
/// after a session line's, and a new session line emptying them.
#[test]
fn a_sides_texts_read_back_as_set() {
    let line =
        "STARTTLS=server, relay=[127.0.0.3], version=TLSv1.3, verify=NO, cipher=C, bits=256/256";
    let piece = |s: &str| {
        let a = line.find(s).unwrap();
        &line[a..a + s.len()]
    };
    let mut t = Tls::default();
    let all = |t: &Tls| (0..8).map(|i| t.text(i).to_string()).collect::<Vec<_>>();
    let session = [
        piece("[127.0.0.3]"),
        piece("TLSv1.3"),
        piece("NO"),
        "",
        piece("256/256"),
    ];
    t.set(0, &session, line);
    assert_eq!(
        all(&t),
        ["[127.0.0.3]", "TLSv1.3", "NO", "", "256/256", "", "", ""]
    );
    // out of order in the line, and from elsewhere
    let other = String::from("/CN=issuer");
    t.set(5, &[piece("TLSv1.3"), &other, piece("[127.0.0.3]")], line);
    assert_eq!(
        all(&t),
        [
            "[127.0.0.3]",
            "TLSv1.3",
            "NO",
            "",
            "256/256",
            "TLSv1.3",
            "/CN=issuer",
            "[127.0.0.3]"
        ]
    );
    // far apart in a long line: each text on its own
    let long = format!("a=x{}b=y", " ".repeat(5000));
    let (x, y) = (&long[2..3], &long[long.len() - 1..]);
    t.set(5, &[x, y, ""], &long);
    assert_eq!(
        all(&t),
        ["[127.0.0.3]", "TLSv1.3", "NO", "", "256/256", "x", "y", ""]
    );
    assert!(t.buf.len() < 100, "{}", t.buf.len());
    // a new session line: the certificate's texts go
    t.set(0, &[piece("C"), "", "", "", ""], line);
    assert_eq!(all(&t), ["C", "", "", "", "", "", "", ""]);
    // texts not in the line given
    t.set(0, &["a", "b", "c", "d", "e"], "");
    assert_eq!(all(&t), ["a", "b", "c", "d", "e", "", "", ""]);
}

/// The brief explanation a summary reads decides what the full one does
/// (kind, severity, cause, doctor's finding, side, ruleset, reply) on
/// every recorded line, and names the peer only when the full one does.
#[test]
fn the_brief_explanation_decides_as_the_full_one() {
    let text = recorded_corpus();
    each_event(&text, |ex, ev, l| {
        let (full, brief) = (ex.explain(ev), ex.explain_brief(ev));
        assert_eq!(
            (
                brief.kind,
                brief.severity,
                brief.cause_id,
                brief.doctor,
                brief.side
            ),
            (
                full.kind,
                full.severity,
                full.cause_id,
                full.doctor,
                full.side
            ),
            "{l}"
        );
        assert_eq!(
            (&brief.ruleset, &brief.reply),
            (&full.ruleset, &full.reply),
            "{l}"
        );
        assert!(brief.peer.is_none() || brief.peer == full.peer, "{l}");
        assert!(
            brief.summary.is_none() && brief.macros.is_empty() && brief.qid.is_none(),
            "{l}"
        );
    });
}

/// Every line of `text` fed to one explainer, in order, and handed to `f`
/// with its event.
fn each_event(text: &str, mut f: impl FnMut(&Explainer, &Event<'_>, &str)) {
    let mut ex = Explainer::default();
    for (i, l) in text.lines().enumerate() {
        let framed = frame::frame(l);
        let ev = ex.feed(i as u64 + 1, l, framed.as_ref());
        f(&ex, &ev, l);
    }
}
