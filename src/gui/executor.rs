//! The one place commands are carried out ([`StudioApp::execute`]) and
//! job results are taken in ([`StudioApp::on_outcome`]). Quick edits happen
//! here in memory; anything that touches the disk or the network runs as a
//! named background job calling the same library function as the matching
//! subcommand.

use super::access_doc::{AccessDoc, Conflict};
use super::commands::{Command, Failed, Outcome, Purpose};
use super::jobs;
use super::settings;
use super::widgets;
use super::{doctor, partners, ServerState, StudioApp, Tab};
use crate::core::linediff;
use crate::net::server::{self, SessionLog};
use crate::net::{deploy, probe, setup};
use crate::store::access::GuardedSave;
use crate::store::doctor as store_doctor;
use crate::store::home::{CA_DAYS_DEFAULT, HOST_DAYS_DEFAULT};
use crate::store::{access as store_access, bundle, certfiles, install, maildir, snapshot, trust};
use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

impl StudioApp {
    fn spawn(
        &mut self,
        name: &str,
        tab: Tab,
        work: impl FnOnce(&jobs::JobHandle, &jobs::Reply) -> Result<Outcome, Failed> + Send + 'static,
    ) -> u64 {
        self.notices.remove(&tab);
        let id = self.jobs.spawn(name, false, work);
        self.job_tab.insert(id, tab);
        id
    }

    /// The one place commands are carried out.
    pub fn execute(&mut self, cmd: Command) {
        let tab = self.tab;
        let home = self.home.clone();
        match cmd {
            Command::Reload => {
                if self.loading.is_some_and(|j| self.jobs.is_running(j)) {
                    return;
                }
                // A reload follows most actions: it keeps the tab's notice
                // (what the action did) rather than clearing it.
                let id = self.jobs.spawn("read the home", false, move |_, _| {
                    let s = snapshot::load(&home).map_err(Failed::doing("Reading the home"))?;
                    Ok(Outcome::Snapshot(s))
                });
                self.job_tab.insert(id, tab);
                self.loading = Some(id);
            }
            Command::SetUpPki { ca, host } => {
                self.wizard.keygen_job = Some(self.spawn("create keys", tab, move |job, _| {
                    let steps = usize::from(ca.is_some()) + usize::from(host.is_some());
                    let mut ca_info = None;
                    if let Some((cn, kind)) = ca {
                        job.report(format!("Generating the CA key ({kind})…"), Some(0.0));
                        ca_info = Some(
                            home.init_ca(&cn, kind, CA_DAYS_DEFAULT)
                                .map_err(Failed::doing("Creating the CA"))?,
                        );
                    }
                    if job.cancelled() {
                        // The UI has stopped waiting; the CA stays (it is whole).
                        return Ok(Outcome::Done);
                    }
                    let mut issued = None;
                    if let Some((fqdn, kind)) = host {
                        job.report(
                            format!("Generating the key for {fqdn} ({kind}) and signing it…"),
                            Some(usize::from(ca_info.is_some()) as f32 / steps as f32),
                        );
                        issued = Some(home.issue(&fqdn, &[], kind, HOST_DAYS_DEFAULT).map_err(
                            Failed::doing(format!("Issuing the certificate for {fqdn}")),
                        )?);
                    }
                    job.report("Done", Some(1.0));
                    Ok(Outcome::PkiReady {
                        ca: ca_info,
                        issued,
                    })
                }));
            }
            Command::IssueCert {
                fqdn,
                sans,
                kind,
                days,
            } => {
                self.spawn("issue a certificate", tab, move |job, _| {
                    job.report(format!("Generating a {kind} key for {fqdn}…"), None);
                    let r = home
                        .issue(&fqdn, &sans, kind, days)
                        .map_err(Failed::doing(format!("Issuing the certificate for {fqdn}")))?;
                    Ok(Outcome::Issued(r))
                });
            }
            Command::RenewCert { fqdn } => {
                self.spawn("renew a certificate", tab, move |job, _| {
                    job.report(format!("New key and certificate for {fqdn}…"), None);
                    let r = home
                        .renew(&fqdn, None, HOST_DAYS_DEFAULT)
                        .map_err(Failed::doing(format!("Renewing {fqdn}")))?;
                    Ok(Outcome::Renewed(r))
                });
            }
            Command::PlanInstall { fqdn, to } => {
                self.spawn("plan the installation", tab, move |_, _| {
                    let plan = install::plan(&home, &fqdn, &to)
                        .map_err(Failed::doing("Planning the installation"))?;
                    let advice = crate::store::mc::advice(None, &fqdn, &to);
                    let mut mc_lines = advice.lines.clone();
                    for n in &advice.notes {
                        mc_lines.push_str(&format!("dnl # {n}\n"));
                    }
                    Ok(Outcome::InstallPlanned {
                        warnings: install::safety_warnings_with(&plan, advice.trusts_sticky),
                        mc_lines,
                        diffs: install::replaced_diffs(&plan),
                        plan,
                    })
                });
            }
            Command::ApplyInstall { fqdn, to } => {
                self.spawn("install", tab, move |job, _| {
                    job.report(format!("Installing into {}…", to.display()), None);
                    let r =
                        install::install(&home, &fqdn, &to).map_err(Failed::doing("Installing"))?;
                    Ok(Outcome::Installed(r))
                });
            }
            Command::OpenAccess { path } => {
                self.spawn("open the access map", Tab::Access, move |_, _| {
                    let exists = path.exists();
                    let map = store_access::load_or_empty(&path)
                        .map_err(Failed::doing("Opening the access map"))?;
                    let entries = map.entries().count();
                    let doc = Box::new(AccessDoc::new(path.clone(), map, exists));
                    Ok(Outcome::AccessOpened {
                        path,
                        doc,
                        entries,
                        exists,
                    })
                });
            }
            Command::EditAccess(edit) => {
                let Some(doc) = self.access.as_mut() else {
                    return self.notify(Tab::Access, true, "Open an access file first.");
                };
                // Edits apply in the order given: one waits for the one
                // in progress.
                if self.access_edit.is_some() {
                    self.access_queue.push_back(edit);
                    return;
                }
                if !doc.is_large() {
                    match doc.apply(&edit) {
                        Ok(msg) => self.notify(Tab::Access, false, msg),
                        Err(e) => self.notify(Tab::Access, true, e),
                    }
                    return;
                }
                // A large map: the edit, the checker and the lookup
                // database run on a copy (its maps are shared, not
                // copied) while the view goes on showing this one.
                let mut copy = doc.clone();
                let base = (doc.id, doc.generation);
                let lines = doc.map.lines.len();
                let id = self.spawn("edit the access map", Tab::Access, move |job, _| {
                    job.report(
                        format!("Applying the edit and checking {lines} lines again…"),
                        None,
                    );
                    let result = copy.apply(&edit);
                    Ok(Outcome::AccessEdited {
                        doc: Box::new(copy),
                        result,
                        base,
                    })
                });
                self.access_edit = Some(id);
            }
            Command::PreviewAccessSave => {
                let Some(doc) = &self.access else {
                    return;
                };
                let copy = doc.clone();
                let base = (doc.id, doc.generation);
                self.spawn(
                    "compare with the file on disk",
                    Tab::Access,
                    move |job, _| {
                        job.report(
                            format!("Comparing {} with what is on disk…", copy.path.display()),
                            None,
                        );
                        Ok(Outcome::AccessSavePreview {
                            diff: copy.save_diff(),
                            base,
                        })
                    },
                );
            }
            Command::SaveAccess { makemap } => {
                let Some(doc) = &self.access else {
                    return self.notify(Tab::Access, true, "Open an access file first.");
                };
                if self.access_edit.is_some() {
                    return self.notify(
                        Tab::Access,
                        true,
                        "An edit is still being applied: save when it is done (the status line shows it).",
                    );
                }
                let (path, base, map) = (doc.path.clone(), doc.saved.clone(), doc.map.clone());
                self.spawn("save the access map", Tab::Access, move |job, _| {
                    job.report(format!("Saving {}…", path.display()), None);
                    let saved = store_access::save_if_unchanged(&path, &base, &map, makemap)
                        .map_err(Failed::doing("Saving the access map"))?;
                    Ok(match saved {
                        GuardedSave::Saved(report) => Outcome::AccessSaved {
                            path,
                            saved: map,
                            report,
                        },
                        GuardedSave::ChangedOnDisk { disk } => {
                            let (old, new) = (base.to_bytes(), disk.to_bytes());
                            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                            Outcome::AccessChangedOnDisk {
                                theirs: linediff::diff_lines(&text(&old), &text(&new), 2),
                                mine: linediff::diff_lines(&text(&old), &text(&map.to_bytes()), 2),
                                path,
                                disk,
                            }
                        }
                    })
                });
            }
            Command::ResolveAccessConflict { take_disk, makemap } => {
                let Some(doc) = self.access.as_mut() else {
                    return;
                };
                let Some(c) = doc.conflict.take() else {
                    return;
                };
                if take_disk {
                    let path = doc.path.clone();
                    self.access = Some(AccessDoc::new(path.clone(), c.disk, true));
                    self.access_view.on_open();
                    self.notify(
                        Tab::Access,
                        false,
                        format!(
                            "Reloaded {} as it is on disk; your edits were dropped",
                            path.display()
                        ),
                    );
                } else {
                    // What is on disk becomes the base: the save replaces it.
                    doc.saved_as(std::sync::Arc::new(c.disk));
                    self.execute(Command::SaveAccess { makemap });
                }
            }
            Command::PickFile { purpose, directory } => {
                self.spawn("choose a file", tab, move |_, _| {
                    // The portal dialog blocks this job's thread, never the UI.
                    let dialog = rfd::FileDialog::new();
                    let path = if directory {
                        dialog.pick_folder()
                    } else {
                        dialog.pick_file()
                    };
                    Ok(Outcome::FilePicked { purpose, path })
                });
            }
            Command::LoadPartnerCert { path, passphrase } => {
                self.spawn("partners read a certificate", Tab::Partners, move |_, _| {
                    certfiles::set_passphrase(passphrase);
                    let certs = certfiles::infos_in_file(&path)
                        .map_err(Failed::doing(format!("Reading {}", path.display())))?;
                    Ok(Outcome::CertsLoaded {
                        purpose: Purpose::PartnerCert,
                        path,
                        certs,
                    })
                });
            }
            Command::SignCsr { path } => {
                self.spawn("partners sign a request", Tab::Partners, move |_, _| {
                    let data = crate::store::fsutil::read_limited(
                        &path,
                        crate::store::fsutil::PKI_FILE_LIMIT,
                    )
                    .map_err(Failed::doing(format!("Reading {}", path.display())))?;
                    let r = home
                        .sign_csr(&data, crate::store::home::HOST_DAYS_DEFAULT)
                        .map_err(Failed::doing(format!("Signing {}", path.display())))?;
                    Ok(Outcome::CsrSigned {
                        fqdn: r.entry.fqdn.clone(),
                        pem: crate::core::pem::encode("CERTIFICATE", &r.entry.info.der),
                        path: r.entry.cert_path,
                    })
                });
            }
            Command::LoadCerts { purpose, path } => {
                self.spawn("read a certificate", tab, move |_, _| {
                    let certs = certfiles::infos_in_file(&path)
                        .map_err(Failed::doing("Reading the certificate"))?;
                    Ok(Outcome::CertsLoaded {
                        purpose,
                        path,
                        certs,
                    })
                });
            }
            Command::StartServer(setup) => {
                if self.server.running() {
                    return self.notify(Tab::Live, true, "The server is already running.");
                }
                let stop = Arc::new(AtomicBool::new(false));
                let stop_job = stop.clone();
                self.notices.remove(&Tab::Live);
                let id = self.jobs.spawn("embedded server", true, move |_, reply| {
                    let starting = || Failed::doing("Starting the server");
                    let plan = setup::server_config(&home, setup).map_err(starting())?;
                    let description = plan.describe();
                    let bound = server::bind(plan.config).map_err(starting())?;
                    reply.event(Outcome::ServerListening {
                        addr: bound.local_addr(),
                        description,
                    });
                    let (tx, rx) = std::sync::mpsc::channel::<SessionLog>();
                    let forward = reply.clone();
                    let forwarder = std::thread::Builder::new()
                        .name("server-sessions".into())
                        .spawn(move || {
                            for log in rx {
                                forward.event(Outcome::Session(Box::new(log)));
                            }
                        });
                    let r = server::run(bound, stop_job, Some(tx));
                    if let Ok(f) = forwarder {
                        let _ = f.join();
                    }
                    r.map_err(Failed::doing("The server"))?;
                    Ok(Outcome::ServerStopped)
                });
                self.job_tab.insert(id, Tab::Live);
                self.server = ServerState {
                    job: Some(id),
                    addr: None,
                    description: "starting…".into(),
                    stop: Some(stop),
                };
            }
            Command::StopServer => {
                if let Some(stop) = &self.server.stop {
                    stop.store(true, Ordering::Relaxed);
                    self.server.description = "stopping…".into();
                }
            }
            Command::Probe { setup, own_server } => {
                self.spawn("probe", Tab::Live, move |job, _| {
                    job.report(format!("Probing {}…", setup.target), None);
                    let opts = setup::probe_options(&home, setup)
                        .map_err(Failed::doing("Preparing the probe"))?;
                    Ok(Outcome::Probed {
                        own_server,
                        report: Box::new(probe::probe(&opts)),
                    })
                });
            }
            Command::ReadMessages { paths } => {
                self.jobs
                    .spawn("read captured messages", true, move |_, _| {
                        Ok(Outcome::Messages(
                            paths
                                .iter()
                                .filter_map(|p| maildir::read_message(p))
                                .collect(),
                        ))
                    });
            }
            Command::RunDoctor(input) => {
                self.spawn("doctor", Tab::Doctor, move |job, _| {
                    job.report("Checking the setup…", None);
                    let report = store_doctor::run(&input, widgets::now_unix())
                        .map_err(Failed::doing("Checking the setup"))?;
                    Ok(Outcome::DoctorDone {
                        report,
                        fixed: Vec::new(),
                    })
                });
            }
            Command::ApplyFixes { actions, then } => {
                self.spawn("doctor fixes", Tab::Doctor, move |job, _| {
                    let mut fixed = Vec::new();
                    for (n, a) in actions.iter().enumerate() {
                        if job.cancelled() {
                            return Ok(Outcome::Done);
                        }
                        job.report(
                            doctor::describe(a),
                            Some(n as f32 / actions.len().max(1) as f32),
                        );
                        fixed.push(store_doctor::apply_fix(a).map_err(|e| e.to_string()));
                    }
                    let report = store_doctor::run(&then, widgets::now_unix())
                        .map_err(Failed::doing("Checking the setup again"))?;
                    Ok(Outcome::DoctorDone { report, fixed })
                });
            }
            Command::LoadPartners { dir } => {
                self.spawn("partners list", Tab::Partners, move |_, _| {
                    let cas = trust::list(&dir, Some(&home))
                        .map_err(Failed::doing("Reading the trusted CAs"))?;
                    Ok(Outcome::PartnersLoaded(partners::PartnersState {
                        dir,
                        cas,
                    }))
                });
            }
            Command::PreviewTrust { file, passphrase } => {
                self.spawn("partners preview", Tab::Partners, move |_, _| {
                    certfiles::set_passphrase(passphrase);
                    let certs = certfiles::infos_in_file(&file)
                        .map_err(Failed::doing(format!("Reading {}", file.display())))?;
                    let refused = trust::check_cas(&file, &certs, false, widgets::now_unix())
                        .err()
                        .map(|e| e.to_string());
                    Ok(Outcome::TrustPreviewed(partners::TrustPreview {
                        file,
                        certs,
                        refused,
                    }))
                });
            }
            Command::TrustAdd {
                file,
                dir,
                announce,
                passphrase,
            } => {
                self.spawn("partners trust", Tab::Partners, move |_, _| {
                    certfiles::set_passphrase(passphrase);
                    let r = trust::add(&file, &dir, announce, false, widgets::now_unix())
                        .map_err(Failed::doing(format!("Trusting {}", file.display())))?;
                    let mut said: Vec<String> = r
                        .added
                        .iter()
                        .map(|(c, p)| format!("trusted {} ({})", c.subject, p.display()))
                        .chain(
                            r.already
                                .iter()
                                .map(|c| format!("{} was already trusted", c.subject)),
                        )
                        .chain(
                            r.announced
                                .iter()
                                .map(|c| format!("announced {}", c.subject)),
                        )
                        .collect();
                    said.extend(r.warnings);
                    let cas = trust::list(&dir, Some(&home))
                        .map_err(Failed::doing("Reading the trusted CAs"))?;
                    Ok(Outcome::Trusted {
                        summary: said.join("; "),
                        state: partners::PartnersState { dir, cas },
                    })
                });
            }
            Command::TrustRemove {
                dir,
                fingerprint,
                force,
            } => {
                self.spawn("partners remove", Tab::Partners, move |_, _| {
                    let r = trust::remove(&dir, &fingerprint, Some(&home), force)
                        .map_err(Failed::doing("Removing the CA"))?;
                    let said: Vec<String> = r
                        .removed
                        .iter()
                        .map(|(c, _)| format!("no longer trusted: {}", c.subject))
                        .collect();
                    let cas = trust::list(&dir, Some(&home))
                        .map_err(Failed::doing("Reading the trusted CAs"))?;
                    Ok(Outcome::Trusted {
                        summary: said.join("; "),
                        state: partners::PartnersState { dir, cas },
                    })
                });
            }
            Command::McApply(opts) => {
                let name = if opts.dry_run {
                    "mc preview"
                } else {
                    "mc apply"
                };
                self.spawn(name, Tab::Doctor, move |job, _| {
                    let mut plan = None;
                    let mut steps = Vec::new();
                    let mc = opts.mc.clone();
                    let r = deploy::apply(&home, &opts, &mut |step| {
                        let text = step.describe(&mc);
                        job.report(text.clone(), None);
                        match step {
                            deploy::Step::Planned(p) => plan = Some(p),
                            _ => steps.push(text),
                        }
                    });
                    match (opts.dry_run, r, plan) {
                        (true, Ok(_), Some(plan)) => Ok(Outcome::McPlanned {
                            plan,
                            refused: None,
                        }),
                        (true, Err(e), Some(plan)) => Ok(Outcome::McPlanned {
                            plan,
                            refused: Some(e.to_string()),
                        }),
                        (false, Ok(ok), _) => Ok(Outcome::McApplied { ok, steps }),
                        (_, Err(e), _) => Err(Failed::doing(if opts.dry_run {
                            "Previewing the sendmail.mc change"
                        } else {
                            "Applying the install to sendmail.mc"
                        })(e)),
                        (true, Ok(_), None) => Ok(Outcome::Done),
                    }
                });
            }
            Command::ExportBundle { fqdn, out } => {
                self.spawn("export a bundle", tab, move |job, _| {
                    job.report(format!("Writing the bundle for {fqdn}…"), None);
                    let r = bundle::build(&home, &fqdn, Path::new(bundle::DEFAULT_PREFIX))
                        .and_then(|b| bundle::write(&b, &out))
                        .map_err(Failed::doing(format!("Exporting the bundle for {fqdn}")))?;
                    Ok(Outcome::BundleWritten(r))
                });
            }
            Command::SaveSettings(s) => {
                self.settings_seq += 1;
                let (seq, written) = (self.settings_seq, self.settings_written.clone());
                self.jobs.spawn("save settings", true, move |_, _| {
                    // Saves may overlap; the newest one always wins.
                    let Ok(mut last) = written.lock() else {
                        return Ok(Outcome::Done);
                    };
                    if *last > seq {
                        return Ok(Outcome::Done);
                    }
                    *last = seq;
                    settings::save(&home, &s).map_err(Failed::doing("Saving the settings"))?;
                    Ok(Outcome::Done)
                });
            }
            Command::CopyText(_) => {}
            Command::ShowTab(t) => self.tab = t,
            Command::MarkWelcomed => self.settings.welcomed = true,
            Command::Notify { tab, error, text } => self.notify(tab, error, text),
            Command::ShowInAccessMap { lines, scroll_to } => {
                self.highlight = lines;
                self.access_view.scroll_to_line = scroll_to;
                self.tab = Tab::Access;
            }
            Command::ClearSessions => {
                self.sessions.clear();
                self.live.selected_session = None;
            }
            Command::ExplainSession(s) => {
                self.explain.from_session(&s);
                self.tab = Tab::Explain;
            }
            Command::ExplainLogLine(e) => {
                self.explain.from_log_line(&e);
                self.tab = Tab::Explain;
            }
            Command::OpenLog { path } => {
                if let Some(stop) = self.log_stop.take() {
                    stop.store(true, Ordering::Relaxed);
                }
                let stop = Arc::new(AtomicBool::new(false));
                let stop_job = stop.clone();
                self.log = super::commands::LogState {
                    source: Some(match &path {
                        Some(p) => p.display().to_string(),
                        None => "sendmail's entries in the journal".into(),
                    }),
                    ..Default::default()
                };
                let id = self.jobs.spawn("follow the log", true, move |_, reply| {
                    use crate::core::maillog::{frame, Explainer};
                    use crate::store::logread::LogReader;
                    let mut r = match &path {
                        Some(path) => {
                            let mut r = LogReader::open(Some(path), true)
                                .map_err(Failed::doing("Opening the log"))?;
                            r.skip_to_tail(super::logview::TAIL)
                                .map_err(Failed::doing("Reading the log"))?;
                            r
                        }
                        None => LogReader::journal(true, Some(super::logview::TAIL))
                            .map_err(Failed::doing("Reading the journal"))?,
                    };
                    let mut ex = Explainer::default();
                    let mut buf = String::new();
                    let mut batch = Vec::new();
                    let mut read = 0u64;
                    let mut last = std::time::Instant::now();
                    // The reader returns at the end of the file only when
                    // stopped; a batch goes out every 100 ms or 500 lines.
                    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
                    let stop_reader = stop_job.clone();
                    let journal = r.journal_process();
                    let reader = std::thread::Builder::new()
                        .name("log-reader".into())
                        .spawn(move || {
                            while let Ok(true) = r.next_line(&mut buf, &stop_reader) {
                                if stop_reader.load(Ordering::Relaxed)
                                    || tx.send(Some(std::mem::take(&mut buf))).is_err()
                                {
                                    break;
                                }
                            }
                            r.close();
                            let _ = tx.send(None);
                        })
                        .map_err(Failed::doing("Reading the log"))?;
                    loop {
                        let got = rx.recv_timeout(std::time::Duration::from_millis(100));
                        let stopped = stop_job.load(Ordering::Relaxed);
                        if stopped {
                            // a read blocked on journalctl's output ends with it
                            if let Some(Ok(mut c)) = journal.as_ref().map(|j| j.lock()) {
                                let _ = c.kill();
                            }
                        }
                        let ended = stopped
                            || matches!(
                                got,
                                Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
                            );
                        if let Ok(Some(line)) = got {
                            if crate::core::maillog::is_private_key_line(&line) {
                                stop_job.store(true, Ordering::Relaxed);
                                return Err(Failed {
                                    what: "Reading the log".into(),
                                    error: "it holds a private key: a key file, not a log (nothing of it is shown)".into(),
                                });
                            }
                            read += 1;
                            let f = frame::frame(&line);
                            let ev = ex.feed(read, &line, f.as_ref());
                            batch.push(ex.explain(&ev));
                        }
                        if !batch.is_empty()
                            && (ended || batch.len() >= 500 || last.elapsed().as_millis() >= 100)
                        {
                            reply.event(Outcome::LogLines {
                                lines: std::mem::take(&mut batch),
                                read,
                            });
                            last = std::time::Instant::now();
                        }
                        if ended {
                            break;
                        }
                    }
                    let _ = reader.join();
                    Ok(Outcome::LogStopped)
                });
                self.job_tab.insert(id, Tab::Log);
                self.log.job = Some(id);
                self.log_stop = Some(stop);
            }
            Command::StopLog => {
                if let Some(stop) = self.log_stop.take() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Command::SetProbeTarget(target) => self.settings.probe_target = target,
        }
    }

    /// Takes in what finished jobs produced.
    pub(super) fn receive(&mut self, ctx: &egui::Context) {
        for m in self.jobs.poll() {
            let tab = self.job_tab.get(&m.job).copied().unwrap_or(self.tab);
            if m.done {
                self.job_tab.remove(&m.job);
                if self.wizard.keygen_job == Some(m.job) {
                    let failed = matches!(m.outcome, Outcome::Failed { .. });
                    self.wizard.on_keygen_done(failed);
                }
                if self.loading == Some(m.job) {
                    self.loading = None;
                }
                if self.access_edit == Some(m.job) {
                    self.access_edit = None;
                    if matches!(m.outcome, Outcome::Failed { .. }) {
                        self.access_queue.clear();
                    }
                }
                if self.server.job == Some(m.job) {
                    self.server = ServerState::default();
                }
            }
            self.on_outcome(ctx, tab, m.outcome);
        }
    }

    fn on_outcome(&mut self, ctx: &egui::Context, tab: Tab, outcome: Outcome) {
        match outcome {
            Outcome::Failed { what, error } => self.notify(tab, true, format!("{what}: {error}")),
            Outcome::Done => {}
            Outcome::Snapshot(s) => {
                self.wizard.prefill(&s, &self.settings);
                if self.access.is_none() && !self.access_view.opening {
                    let path = self
                        .settings
                        .access_file
                        .clone()
                        .unwrap_or_else(|| s.default_access_file.clone());
                    self.access_view.path = path.display().to_string();
                    // The file edited last time opens again by itself.
                    if self.settings.access_file.is_some() {
                        self.access_view.opening = true;
                        self.push(Command::OpenAccess { path });
                    }
                }
                self.snapshot = Some(Arc::new(s));
            }
            Outcome::PkiReady { ca, issued } => {
                let mut text = Vec::new();
                if let Some(ca) = ca {
                    text.push(format!("CA created: {}", ca.subject));
                }
                if let Some(r) = &issued {
                    text.push(format!("certificate issued for {}", r.entry.fqdn));
                    text.extend(r.notes.iter().cloned());
                }
                self.notify(tab, false, text.join("; "));
                self.execute(Command::Reload);
                self.wizard.request_plan(&mut self.pending);
            }
            Outcome::Issued(r) => {
                let mut t = format!("Issued {} ({})", r.entry.fqdn, r.entry.cert_path.display());
                for n in &r.notes {
                    t.push_str(&format!("; {n}"));
                }
                self.certs.select(&r.entry.fqdn);
                self.notify(tab, false, t);
                self.execute(Command::Reload);
            }
            Outcome::Renewed(r) => {
                self.notify(
                    tab,
                    false,
                    format!(
                        "Renewed {}: new key and certificate, valid until {}; the old pair is in {}",
                        r.entry.fqdn,
                        r.entry.info.not_after,
                        self.home.archive_dir().display()
                    ),
                );
                self.execute(Command::Reload);
            }
            Outcome::InstallPlanned {
                plan,
                warnings,
                mc_lines,
                diffs,
            } => self.wizard.on_plan(plan, warnings, mc_lines, diffs),
            Outcome::Installed(r) => {
                self.settings.install_dir = Some(r.plan.to.clone());
                self.wizard.on_installed(r);
            }
            Outcome::AccessOpened {
                path,
                doc,
                entries: n,
                exists,
            } => {
                self.access_view.opening = false;
                self.settings.access_file = Some(path.clone());
                self.access_view.path = path.display().to_string();
                // The old document (maybe a million entries) is freed off
                // the UI thread.
                if let Some(old) = self.access.replace(*doc) {
                    drop_in_background(old);
                }
                self.access_view.on_open();
                self.notify(
                    Tab::Access,
                    false,
                    if exists {
                        format!(
                            "Opened {} ({})",
                            path.display(),
                            super::widgets::count(n, "entry", "entries")
                        )
                    } else {
                        format!(
                            "{} does not exist yet; it is created when you save",
                            path.display()
                        )
                    },
                );
            }
            Outcome::AccessChangedOnDisk {
                path,
                disk,
                theirs,
                mine,
            } => {
                if let Some(doc) = self.access.as_mut().filter(|d| d.path == path) {
                    doc.conflict = Some(Conflict { disk, theirs, mine });
                }
                self.notify(
                    Tab::Access,
                    true,
                    format!(
                        "{} changed on disk since it was opened; nothing was written. Compare the two versions below and choose.",
                        path.display()
                    ),
                );
            }
            Outcome::AccessSavePreview { diff, base } => {
                if self.access.as_ref().map(|d| (d.id, d.generation)) == Some(base) {
                    self.access_view.preview = Some(diff);
                }
            }
            Outcome::AccessEdited { doc, result, base } => {
                let current = self.access.as_ref().map(|d| (d.id, d.generation));
                match result {
                    Ok(_) if current != Some(base) => {
                        self.access_queue.clear();
                        self.notify(
                            Tab::Access,
                            true,
                            "The access map was opened again while an edit was applied: that edit was dropped.",
                        );
                    }
                    Ok(msg) => {
                        // what only the old document held (its lookup
                        // database, findings, rows) is freed off the UI thread
                        if let Some(old) = self.access.replace(*doc) {
                            drop_in_background(old);
                        }
                        self.notify(Tab::Access, false, msg);
                    }
                    Err(e) => self.notify(Tab::Access, true, e),
                }
                if let Some(next) = self.access_queue.pop_front() {
                    self.execute(Command::EditAccess(next));
                }
            }
            Outcome::AccessSaved {
                path,
                saved,
                report,
            } => {
                if let Some(doc) = self.access.as_mut().filter(|d| d.path == path) {
                    doc.saved_as(saved);
                }
                let mut t = format!("Saved {}", path.display());
                if let Some(b) = &report.backup {
                    t.push_str(&format!("; previous version in {}", b.display()));
                }
                let mut error = false;
                match &report.makemap {
                    Some(Ok(m)) => t.push_str(&format!("; {m}")),
                    Some(Err(m)) => {
                        error = true;
                        t.push_str(&format!("; but makemap failed: {m}"));
                    }
                    None => t.push_str(&format!(
                        "; rebuild the database: makemap hash {0} < {0}",
                        path.display()
                    )),
                }
                self.access_view.preview = None;
                self.notify(Tab::Access, error, t);
            }
            Outcome::FilePicked { purpose, path } => {
                if let Some(p) = path {
                    self.on_file_picked(purpose, p);
                }
            }
            Outcome::CertsLoaded {
                purpose,
                path,
                certs,
            } => match purpose {
                Purpose::DnPickerCert => self.access_view.picker.on_loaded(path, certs),
                Purpose::ExplainCert => self.explain.on_cert(certs),
                Purpose::PartnerCert => self.partner_cert = Some((path, certs)),
                _ => {}
            },
            Outcome::ServerListening { addr, description } => {
                self.server.addr = Some(addr);
                self.server.description = description;
                self.settings.server_port = addr.port();
                self.notify(Tab::Live, false, format!("Listening on {addr}"));
            }
            Outcome::Session(log) => {
                let files: Vec<PathBuf> = log.messages.iter().map(PathBuf::from).collect();
                self.sessions.push(*log);
                if !files.is_empty() {
                    self.execute(Command::ReadMessages { paths: files });
                }
            }
            Outcome::LogLines { lines, read } => {
                self.log.read = read;
                self.log.lines.extend(lines);
                while self.log.lines.len() > super::commands::LOG_KEEP {
                    self.log.lines.pop_front();
                }
            }
            Outcome::CsrSigned { fqdn, pem, path } => {
                self.notify(
                    Tab::Partners,
                    false,
                    format!("Signed {fqdn}: the certificate is in {}; send it to the partner (it keeps its key)", path.display()),
                );
                self.signed = Some((fqdn, pem));
                self.execute(Command::Reload);
            }
            Outcome::LogStopped => {
                self.log.job = None;
            }
            Outcome::ServerStopped => {
                self.notify(Tab::Live, false, "The server stopped.");
            }
            Outcome::Probed { own_server, report } => {
                if own_server {
                    self.own_probe = Some(*report);
                } else {
                    self.other_probe = Some(*report);
                }
            }
            Outcome::Messages(m) => self.messages.extend(m),
            Outcome::PartnersLoaded(state) => self.partners = Some(state),
            Outcome::TrustPreviewed(p) => self.trust_preview = Some(p),
            Outcome::Trusted { summary, state } => {
                self.notify(Tab::Partners, false, summary);
                self.partners = Some(state);
                self.trust_preview = None;
            }
            Outcome::McPlanned { plan, refused } => {
                self.mc_plan = Some((*plan, refused));
                self.mc_result = None;
            }
            Outcome::McApplied { ok, steps } => {
                self.notify(
                    Tab::Doctor,
                    !ok,
                    if ok {
                        "sendmail.mc: done"
                    } else {
                        "sendmail.mc: the restarted sendmail did not serve the install; rolled back"
                    },
                );
                self.mc_plan = None;
                self.mc_result = Some((ok, steps));
            }
            Outcome::DoctorDone { report, fixed } => {
                if !fixed.is_empty() {
                    let failed = fixed.iter().filter(|r| r.is_err()).count();
                    let text = fixed
                        .iter()
                        .map(|r| match r {
                            Ok(m) => format!("fixed: {m}"),
                            Err(e) => format!("not fixed: {e}"),
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.notify(Tab::Doctor, failed > 0, text);
                }
                self.doctor_report = Some(report);
            }
            Outcome::BundleWritten(r) => {
                self.notify(
                    tab,
                    false,
                    format!(
                        "Bundle written to {} ({} entries{}); give it to the host's admin: its README.txt says how to install it",
                        r.out.display(),
                        r.entries.len(),
                        if r.tar { ", mode 0600: it holds the private key" } else { "" }
                    ),
                );
            }
        }
        ctx.request_repaint();
    }

    pub(super) fn on_file_picked(&mut self, purpose: Purpose, p: PathBuf) {
        let text = p.display().to_string();
        match purpose {
            Purpose::InstallDir => self.wizard.install_dir = text,
            Purpose::AccessFile => {
                self.access_view.path = text;
                self.push(Command::OpenAccess { path: p });
            }
            Purpose::DnPickerCert => {
                self.access_view.picker.file = text;
                self.push(Command::LoadCerts { purpose, path: p });
            }
            Purpose::ExplainCert => {
                self.explain.cert_file = text;
                self.push(Command::LoadCerts { purpose, path: p });
            }
            Purpose::ProbeClientCert => self.live.client_cert = text,
            Purpose::ProbeClientKey => self.live.client_key = text,
            Purpose::ProbeCaFile => self.live.ca_file = text,
            Purpose::PartnerCert => {
                self.partners_view.cert = text;
                self.push(Command::LoadPartnerCert {
                    path: p,
                    passphrase: None,
                });
            }
        }
    }
}

/// Frees an access document on a thread of its own: a million entries
/// take longer than a frame to free.
fn drop_in_background(doc: AccessDoc) {
    let _ = std::thread::Builder::new()
        .name("drop-access".into())
        .spawn(move || drop(doc));
}
