//! `Pool`: one function's warm sandboxes, and the admission that bounds its work.
//!
//! A request first takes an *admission* permit (pool size plus queue depth of them;
//! none left: 429), then waits for a *run* permit (pool size of them), then takes an
//! idle sandbox to a blocking thread. The guest call runs there, never on the async
//! executor; its answer goes back to the request at once, and the same thread then
//! restores the sandbox to the snapshot (or replaces it if the restore fails) before
//! it returns it to the pool and gives the permits back. So a sandbox never serves a
//! request in any state but the snapshot's, and a restore costs the next request
//! nothing unless every sandbox is busy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use hyperlight_host::Value;
use tokio::sync::Semaphore;

use crate::config::FunctionConfig;
use crate::guest::{self, GuestError, Instance, PrepareError, Signature, Template};

/// What a function needs once it is warm.
#[derive(Debug)]
struct Warm {
    template: Template,
    signature: Signature,
}

/// One function's sandboxes.
#[derive(Debug)]
pub struct Pool {
    config: FunctionConfig,
    warm: OnceLock<Warm>,
    idle: Mutex<Vec<Instance>>,
    admit: Arc<Semaphore>,
    run: Arc<Semaphore>,
    in_flight: AtomicUsize,
}

/// A call's result and how long the guest call took.
#[derive(Debug)]
pub struct Outcome {
    /// The guest's answer.
    pub result: Result<Value, GuestError>,
    /// The time of the guest call alone (not the queue, not the restore).
    pub call_time: Duration,
}

/// Why a request got no call.
#[derive(Debug)]
pub enum Refusal {
    /// The pool is still being built.
    NotReady,
    /// The pool and the queue are full.
    Busy,
    /// No sandbox could be made for it (after a failed restore).
    NoSandbox(PrepareError),
}

impl Pool {
    /// An empty pool for `config`, admitting `queue_depth` waiting requests beyond
    /// its size; [`warm`](Pool::warm) fills it.
    pub fn new(config: FunctionConfig, queue_depth: usize) -> Pool {
        Pool {
            admit: Arc::new(Semaphore::new(config.pool + queue_depth)),
            run: Arc::new(Semaphore::new(config.pool)),
            idle: Mutex::new(Vec::with_capacity(config.pool)),
            warm: OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            config,
        }
    }

    /// The function's configuration.
    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// The call's signature, once warm.
    pub fn signature(&self) -> Option<&Signature> {
        self.warm.get().map(|w| &w.signature)
    }

    /// Whether every sandbox of the pool is built.
    pub fn is_warm(&self) -> bool {
        self.warm.get().is_some()
    }

    /// Requests admitted and not yet answered and restored.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Builds the guest once, snapshots it, and makes the rest of the pool from the
    /// snapshot. Blocks (run it on a blocking thread).
    pub fn warm(&self) -> Result<(), PrepareError> {
        let (template, first, signature) = guest::prepare(&self.config)?;
        let mut instances = vec![first];
        for _ in 1..self.config.pool {
            instances.push(template.instance()?);
        }
        self.lock_idle().extend(instances);
        // Set once: warming runs once per pool, before any request is admitted.
        let _ = self.warm.set(Warm { template, signature });
        Ok(())
    }

    /// Runs one call of the entry with `args` (already checked against the
    /// signature) in a sandbox in the snapshot's state.
    pub async fn invoke(self: &Arc<Self>, args: Vec<Value>) -> Result<Outcome, Refusal> {
        let warm = self.warm.get().ok_or(Refusal::NotReady)?;
        let admit = Arc::clone(&self.admit).try_acquire_owned().map_err(|_| Refusal::Busy)?;
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(Arc::clone(self));
        // The semaphore is never closed, so acquiring fails only if it were.
        let run = Arc::clone(&self.run).acquire_owned().await.map_err(|_| Refusal::NotReady)?;
        let taken = self.lock_idle().pop();
        // The call leaves the executor: block_in_place hands this thread's share of
        // the scheduler to another thread first, so other requests go on being
        // served while the vCPU runs here, and the call starts without waking any
        // thread (a spawn_blocking and the answer back cost two wake-ups, ~190 us on
        // this machine; see docs/deploy.md).
        let (instance, result, call_time) = tokio::task::block_in_place(|| {
            let mut instance = taken.map_or_else(|| warm.template.instance(), Ok).map_err(Refusal::NoSandbox)?;
            let start = Instant::now();
            let result = instance.call(&self.config.entry, args, warm.signature.returns, self.config.deadline);
            Ok((instance, result, start.elapsed()))
        })?;
        // The restore runs after the answer, off its path, on a blocking thread;
        // the permits are held until the sandbox is back in the pool, so the next
        // request waits for the restore and never sees a sandbox mid-restore. It
        // runs even if the client has gone.
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permits = (admit, run, in_flight);
            pool.give_back(instance);
        });
        Ok(Outcome { result, call_time })
    }

    /// On a blocking thread: restores `instance` to the snapshot (or replaces it if
    /// that fails) and returns it to the pool.
    fn give_back(&self, mut instance: Instance) {
        let Some(warm) = self.warm.get() else { return };
        match instance.restore(&warm.template) {
            Ok(()) => self.lock_idle().push(instance),
            Err(e) => {
                tracing::warn!(function = %self.config.name, error = %e, "restore failed; replacing the sandbox");
                drop(instance);
                match warm.template.instance() {
                    Ok(fresh) => self.lock_idle().push(fresh),
                    // The next request builds one (see invoke) or reports why not.
                    Err(e) => tracing::error!(function = %self.config.name, error = %e, "cannot replace the sandbox"),
                }
            }
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a request from admission to the sandbox's return.
struct InFlight(Arc<Pool>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
