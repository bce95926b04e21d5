//! `bundle`: byte-identical tars from the same home, modes and links as
//! GNU tar lists them, an extracted bundle that `openssl verify -CApath`
//! accepts with the links `openssl rehash` makes, the directory form, and
//! the example Ansible playbook deploying a bundle for real (on this
//! machine, into a temp directory) after which `doctor` finds nothing.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{
    links, openssl, openssl_links, project_root, require, run, run_ok, run_ok_bytes, studio,
    tempdir,
};

const HOST: &str = "mx1.example.org";

fn home_with_hosts(root: &Path, hosts: &[&str]) {
    hosts
        .iter()
        .fold(
            crate::support::Pki::new(root).ca_name("Fleet CA"),
            |p, h| p.ecdsa_host(h),
        )
        .make();
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn tar_is_reproducible_keeps_modes_and_verifies() {
    let tmp = tempdir();
    let home = tmp.path().join("home");
    home_with_hosts(&home, &[HOST, "mx2.example.org"]);
    let a = tmp.path().join("a.tar");
    let b = tmp.path().join("b.tar");
    run_ok(studio(&home).args(["bundle", HOST, "--out"]).arg(&a));
    // A second later, from a fresh process: still the same bytes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run_ok(studio(&home).args(["bundle", HOST, "--out"]).arg(&b));
    let (ab, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert!(ab == bb, "two bundles of the same host differ");
    assert_eq!(mode(&a), 0o600, "the tar holds the key");

    // GNU tar's view: owner, modes, the link.
    let list = run_ok(Command::new(require("tar")).arg("-tvf").arg(&a));
    let mut seen = BTreeMap::new();
    for l in list.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[1], "root/root", "{l}");
        seen.insert(
            f[5].to_string(),
            (f[0].to_string(), f.get(7).map(|s| s.to_string())),
        );
    }
    let want = [
        ("./", "drwxr-xr-x"),
        ("./CAcert.pem", "-rw-r--r--"),
        ("./certs/", "drwxr-xr-x"),
        ("./certs/CAcert.pem", "-rw-r--r--"),
        ("./mx1.example.org.crt", "-rw-r--r--"),
        ("./mx1.example.org.key", "-rw-------"),
        ("./sendmail.mc.snippet", "-rw-r--r--"),
        ("./access.snippet", "-rw-r--r--"),
        ("./README.txt", "-rw-r--r--"),
    ];
    for (name, perms) in want {
        assert_eq!(
            seen.get(name).map(|s| s.0.as_str()),
            Some(perms),
            "{name} in\n{list}"
        );
    }
    let link: Vec<_> = seen.iter().filter(|(_, v)| v.0.starts_with('l')).collect();
    assert_eq!(link.len(), 1, "{list}");
    assert_eq!(link[0].1 .1.as_deref(), Some("CAcert.pem"), "{list}");

    // Extracted: sendmail's view of the files.
    let x = tmp.path().join("x");
    fs::create_dir(&x).unwrap();
    run_ok(
        Command::new(require("tar"))
            .arg("-xpf")
            .arg(&a)
            .arg("-C")
            .arg(&x),
    );
    assert_eq!(mode(&x.join(format!("{HOST}.key"))), 0o600);
    assert_eq!(mode(&x.join(format!("{HOST}.crt"))), 0o644);
    assert_eq!(mode(&x.join("certs")), 0o755);
    let v = run_ok(
        openssl()
            .args(["verify", "-CApath"])
            .arg(x.join("certs"))
            .arg(x.join(format!("{HOST}.crt"))),
    );
    assert!(v.trim_end().ends_with(": OK"), "{v}");
    assert_eq!(links(&x.join("certs")), openssl_links(&x.join("certs")));
    let mc = fs::read_to_string(x.join("sendmail.mc.snippet")).unwrap();
    assert!(
        mc.contains("define(`confSERVER_KEY', `/etc/mail/tls/mx1.example.org.key')dnl"),
        "{mc}"
    );
    let access = fs::read_to_string(x.join("access.snippet")).unwrap();
    assert!(
        access.contains("CERTISSUER:/CN=Fleet+20CA\tRELAY\n"),
        "{access}"
    );
    assert!(
        access.contains("# TLS_Srv:mx2.example.org\tVERIFY"),
        "{access}"
    );
    // The access lines pass our checker.
    run_ok(
        studio(&home)
            .args(["access", "check"])
            .arg(x.join("access.snippet")),
    );
    // The key is the one issued.
    let issued = fs::read(home.join(format!("hosts/{HOST}.key"))).unwrap();
    assert_eq!(fs::read(x.join(format!("{HOST}.key"))).unwrap(), issued);
}

#[test]
fn directory_form_and_long_names() {
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let long = format!(
        "{}.{}.{}.example.org",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60)
    );
    home_with_hosts(&home, &[HOST, &long]);
    let out = tmp.path().join("bundle");
    run_ok(studio(&home).args(["bundle", HOST, "--out"]).arg(&out));
    assert_eq!(mode(&out.join(format!("{HOST}.key"))), 0o600);
    assert_eq!(mode(&out.join("certs")), 0o755);
    assert_eq!(links(&out.join("certs")), openssl_links(&out.join("certs")));
    // Again into the same directory (an earlier bundle): fine.
    run_ok(
        studio(&home)
            .args(["bundle", HOST, "--prefix", "/srv/tls", "--out"])
            .arg(&out),
    );
    let mc = fs::read_to_string(out.join("sendmail.mc.snippet")).unwrap();
    assert!(mc.contains("`/srv/tls/certs'"), "{mc}");
    // A directory with other things in it: refused, untouched.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("keep"), "x").unwrap();
    let o = run(studio(&home).args(["bundle", HOST, "--out"]).arg(&other));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(fs::read_dir(&other).unwrap().count(), 1);

    // A name longer than ustar's 100 bytes: a pax header carries it.
    let t = tmp.path().join("long.tar");
    run_ok(studio(&home).args(["bundle", &long, "--out"]).arg(&t));
    let list = run_ok(Command::new(require("tar")).arg("-tf").arg(&t));
    assert!(list.lines().any(|l| l == format!("./{long}.key")), "{list}");
    let x = tmp.path().join("x");
    fs::create_dir(&x).unwrap();
    run_ok(
        Command::new(require("tar"))
            .arg("-xpf")
            .arg(&t)
            .arg("-C")
            .arg(&x),
    );
    assert_eq!(mode(&x.join(format!("{long}.key"))), 0o600);
}

#[test]
fn ansible_playbook_deploys_a_bundle() {
    let playbook_dir = project_root().join("packaging/examples/ansible");
    let ap = require("ansible-playbook");
    let syntax = run(Command::new(&ap).current_dir(&playbook_dir).args([
        "--syntax-check",
        "-i",
        "inventory.example.ini",
        "deploy-bundles.yml",
    ]));
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    // A real run against this machine, into a temp /etc/mail.
    let tmp = tempdir();
    let t = tmp.path();
    let home = t.join("home");
    home_with_hosts(&home, &[HOST]);
    let mail = t.join("etc-mail");
    fs::create_dir(&mail).unwrap();
    fs::set_permissions(t, fs::Permissions::from_mode(0o755)).unwrap();
    let mc = mail.join("sendmail.mc");
    // /tmp is sticky and world-writable: sendmail needs TrustStickyBit there.
    fs::write(
        &mc,
        format!(
            "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl\n\
             OSTYPE(`debian')dnl\n\
             define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl\n\
             FEATURE(`access_db', `hash -T<TMPF> {}/access')dnl\n\
             MAILER(`local')dnl\n\
             MAILER(`smtp')dnl\n",
            mail.display()
        ),
    )
    .unwrap();
    let inv = t.join("inventory.ini");
    fs::write(
        &inv,
        format!("[sendmail]\n{HOST} ansible_connection=local ansible_become=false ansible_python_interpreter=/usr/bin/python3\n"),
    )
    .unwrap();
    let bin = crate::support::studio_bin();
    let play = || {
        let mut c = Command::new(&ap);
        c.current_dir(&playbook_dir)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCAL_TEMP", t.join("ansible-tmp"))
            .env("ANSIBLE_REMOTE_TEMP", t.join("ansible-tmp"))
            .arg("-i")
            .arg(&inv)
            .arg("deploy-bundles.yml")
            .arg("-e")
            .arg(format!("studio_bin={}", bin.display()))
            .arg("-e")
            .arg(format!("studio_home={}", home.display()))
            .arg("-e")
            .arg(format!("bundle_dir={}", t.join("bundles").display()))
            .arg("-e")
            .arg(format!("tls_dir={}", mail.join("tls").display()))
            .arg("-e")
            .arg(format!("mail_dir={}", mail.display()))
            .arg("-e")
            .arg(format!(
                "sendmail_rebuild_cmd='m4 {0}/sendmail.mc > {0}/sendmail.cf'",
                mail.display()
            ))
            .args(["-e", "sendmail_restart=false"]);
        String::from_utf8(run_ok_bytes(&mut c)).unwrap()
    };
    let first = play();
    assert!(first.contains("failed=0"), "{first}");
    let tls = mail.join("tls");
    assert_eq!(mode(&tls.join(format!("{HOST}.key"))), 0o600);
    assert_eq!(links(&tls.join("certs")), openssl_links(&tls.join("certs")));
    let cf = fs::read_to_string(mail.join("sendmail.cf")).unwrap();
    assert!(
        cf.contains(&format!("O ServerKeyFile={}/{HOST}.key\n", tls.display())),
        "the cf was rebuilt with the bundle's lines"
    );
    let access = fs::read_to_string(mail.join("access")).unwrap();
    assert!(
        access.contains("CERTISSUER:/CN=Fleet+20CA\tRELAY"),
        "{access}"
    );
    // The deployed host is healthy by the doctor's rules.
    let d = run(studio(&home)
        .args(["doctor", "--mc"])
        .arg(&mc)
        .arg("--cf")
        .arg(mail.join("sendmail.cf")));
    let text = String::from_utf8_lossy(&d.stdout);
    assert!(
        d.status.success() && text.contains("0 error(s), 0 warning(s)"),
        "{text}"
    );
    // Reproducible bundles make the second run a no-op.
    let second = play();
    assert!(
        second.contains("changed=0") && second.contains("failed=0"),
        "{second}"
    );
}
