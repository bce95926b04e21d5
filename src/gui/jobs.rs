//! Background jobs: every slow or disk-touching action runs on a named
//! thread with a progress line and a cancel flag; its result comes back
//! through one channel that the UI polls once per frame.
//!
//! Cancelling means the UI stops waiting at once: the job leaves the status
//! line and whatever it still sends is dropped. A job made of several steps
//! checks [`JobHandle::cancelled`] between them and stops early (the
//! wizard's key generation, the doctor's fixes); a single blocking step
//! (one key generation, one handshake, one file write) runs to its end, so
//! no file is left half-written.

use super::commands::{Failed, Outcome};
use eframe::egui;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// What a running job tells the UI about itself.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub text: String,
    /// 0.0–1.0 when known; `None` shows a spinner.
    pub fraction: Option<f32>,
}

/// The job's side of the bargain: report progress, notice cancellation.
#[derive(Clone)]
pub struct JobHandle {
    progress: Arc<Mutex<Progress>>,
    cancel: Arc<AtomicBool>,
    ctx: Option<egui::Context>,
}

impl JobHandle {
    pub fn report(&self, text: impl Into<String>, fraction: Option<f32>) {
        if let Ok(mut p) = self.progress.lock() {
            p.text = text.into();
            p.fraction = fraction;
        }
        self.repaint();
    }
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
    pub fn repaint(&self) {
        if let Some(ctx) = &self.ctx {
            ctx.request_repaint();
        }
    }
}

/// A job as the UI sees it.
pub struct RunningJob {
    pub id: u64,
    pub name: String,
    progress: Arc<Mutex<Progress>>,
    cancel: Arc<AtomicBool>,
    /// Long-lived jobs (the server) are not listed as "busy".
    pub background: bool,
}

impl RunningJob {
    pub fn progress(&self) -> Progress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// A message from a job: an intermediate event (`done == false`, e.g. a
/// server session) or its final outcome.
pub struct Message {
    pub job: u64,
    pub done: bool,
    pub outcome: Outcome,
}

/// Sends outcomes from a job thread.
#[derive(Clone)]
pub struct Reply {
    job: u64,
    tx: Sender<Message>,
    handle: JobHandle,
}

impl Reply {
    /// An event while the job goes on.
    pub fn event(&self, outcome: Outcome) {
        let _ = self.tx.send(Message {
            job: self.job,
            done: false,
            outcome,
        });
        self.handle.repaint();
    }
    fn finish(&self, outcome: Outcome) {
        let _ = self.tx.send(Message {
            job: self.job,
            done: true,
            outcome,
        });
        self.handle.repaint();
    }
}

pub struct Jobs {
    next: AtomicU64,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    pub running: Vec<RunningJob>,
    /// Jobs the person cancelled: whatever they still send is dropped.
    cancelled: std::collections::HashSet<u64>,
    ctx: Option<egui::Context>,
}

impl Default for Jobs {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Jobs {
            next: AtomicU64::new(1),
            tx,
            rx,
            running: Vec::new(),
            cancelled: std::collections::HashSet::new(),
            ctx: None,
        }
    }
}

impl Jobs {
    /// Jobs wake the UI through this context when they report.
    pub fn set_context(&mut self, ctx: &egui::Context) {
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
        }
    }

    /// Starts `work` on a thread named `name`; its `Err` comes back as an
    /// [`Outcome::Failed`]. If the thread cannot be created the failure
    /// comes back the same way.
    pub fn spawn(
        &mut self,
        name: &str,
        background: bool,
        work: impl FnOnce(&JobHandle, &Reply) -> Result<Outcome, Failed> + Send + 'static,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let progress = Arc::new(Mutex::new(Progress {
            text: format!("{name}…"),
            fraction: None,
        }));
        let cancel = Arc::new(AtomicBool::new(false));
        let handle = JobHandle {
            progress: progress.clone(),
            cancel: cancel.clone(),
            ctx: self.ctx.clone(),
        };
        let reply = Reply {
            job: id,
            tx: self.tx.clone(),
            handle: handle.clone(),
        };
        let fallback = reply.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("job-{name}"))
            .spawn(move || {
                let outcome = work(&handle, &reply)
                    .unwrap_or_else(|Failed { what, error }| Outcome::Failed { what, error });
                reply.finish(outcome);
            });
        if let Err(e) = spawned {
            fallback.finish(Outcome::Failed {
                what: name.to_string(),
                error: format!("cannot start a thread: {e}"),
            });
        }
        self.running.push(RunningJob {
            id,
            name: name.to_string(),
            progress,
            cancel,
            background,
        });
        id
    }

    /// Messages that arrived since the last frame (none from cancelled
    /// jobs).
    pub fn poll(&mut self) -> Vec<Message> {
        let mut msgs: Vec<Message> = self.rx.try_iter().collect();
        for m in msgs.iter().filter(|m| m.done) {
            self.running.retain(|j| j.id != m.job);
        }
        msgs.retain(|m| {
            let dropped = self.cancelled.contains(&m.job);
            if dropped && m.done {
                self.cancelled.remove(&m.job);
            }
            !dropped
        });
        msgs
    }

    /// Cancels a job: it is told to stop (jobs that can, check the flag),
    /// leaves the busy list at once, and its result is not applied. A job
    /// that cannot stop early ends by itself (every job is bounded by
    /// timeouts).
    pub fn cancel(&mut self, id: u64) {
        if let Some(j) = self.running.iter().find(|j| j.id == id) {
            j.cancel();
            self.cancelled.insert(id);
        }
        self.running.retain(|j| j.id != id);
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.running.iter().any(|j| j.id == id)
    }

    pub fn find(&self, id: u64) -> Option<&RunningJob> {
        self.running.iter().find(|j| j.id == id)
    }

    /// Foreground jobs still running.
    pub fn busy(&self) -> impl Iterator<Item = &RunningJob> {
        self.running.iter().filter(|j| !j.background)
    }
}
