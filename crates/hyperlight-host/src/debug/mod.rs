//! Debugging a guest: the gdb stub (feature `gdb`) and crash dumps (feature
//! `crashdump`). With neither feature, everything here compiles to nothing.
//!
//! The run loop calls two hooks: [`Sandbox::debug_before_run`] before each
//! `KVM_RUN`, and [`Sandbox::debug_exit`], which sees every exit first and may
//! consume it (a breakpoint, a step or a Ctrl-C for the debugger) or observe it (a
//! fault, for a crash dump). See docs/debugging.md for the user's view.

#[cfg(feature = "crashdump")]
pub(crate) mod crash_dump;
#[cfg(feature = "gdb")]
pub(crate) mod gdb;
#[cfg(feature = "gdb")]
pub(crate) mod page_walk;
#[cfg(any(feature = "gdb", feature = "crashdump"))]
pub(crate) mod trap;

use std::time::Duration;

use crate::error::{BuildError, CallError};
use crate::sandbox::sandbox::Sandbox;
use crate::vm::VmExit;

/// What the builder asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct DebugConfig {
    /// Serve gdb on this local TCP port, stopped at the guest's entry.
    #[cfg(feature = "gdb")]
    pub debug_port: Option<u16>,
    /// Write a core file here when the guest faults.
    #[cfg(feature = "crashdump")]
    pub crash_dump_dir: Option<std::path::PathBuf>,
}

/// A sandbox's debugging state.
#[derive(Debug, Default)]
pub(crate) struct DebugState {
    #[cfg(feature = "gdb")]
    pub gdb: Option<Box<gdb::Session>>,
    #[cfg(feature = "crashdump")]
    pub crash_dumps: Option<crash_dump::CrashDumps>,
}

impl DebugConfig {
    /// Sets up what the builder asked for; with a debug port, waits until gdb attaches.
    pub(crate) fn start(&self) -> Result<DebugState, BuildError> {
        #[allow(unused_mut)]
        let mut state = DebugState::default();
        #[cfg(feature = "gdb")]
        if let Some(port) = self.debug_port {
            let session = gdb::Session::accept(port).map_err(|source| BuildError::DebugPort { port, source })?;
            state.gdb = Some(Box::new(session));
        }
        #[cfg(feature = "crashdump")]
        if let Some(dir) = &self.crash_dump_dir {
            state.crash_dumps = Some(crash_dump::CrashDumps::new(dir.clone()));
        }
        Ok(state)
    }
}

impl Sandbox {
    /// Hook: the run loop is about to run the vCPU.
    #[inline]
    pub(crate) fn debug_before_run(&mut self) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.debug.gdb.is_some() {
            return self.gdb_before_run();
        }
        Ok(())
    }

    /// Hook: the vCPU exited with `exit`. `None`: the debugger consumed the exit and
    /// the run loop runs the vCPU again; otherwise the run loop handles the
    /// returned exit as usual.
    #[inline]
    pub(crate) fn debug_exit(&mut self, exit: VmExit) -> Result<Option<VmExit>, CallError> {
        #[cfg(feature = "gdb")]
        let exit = match self.debug.gdb.is_some() {
            true => match self.gdb_exit(exit)? {
                Some(exit) => exit,
                None => return Ok(None),
            },
            false => exit,
        };
        #[cfg(feature = "crashdump")]
        if self.debug.crash_dumps.is_some() {
            self.crash_dump_on(&exit);
        }
        Ok(Some(exit))
    }

    /// Hook: a snapshot is about to freeze memory: the debugger's `int3`s come out,
    /// so that no snapshot (nor a sandbox made from one) carries them.
    #[inline]
    pub(crate) fn debug_breakpoints_out(&mut self) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.debug.gdb.is_some() {
            return self.gdb_breakpoints(false);
        }
        Ok(())
    }

    /// Hook: after a snapshot or a restore: the debugger's `int3`s go back in (a
    /// restore put the snapshot's bytes back over them).
    #[inline]
    pub(crate) fn debug_breakpoints_in(&mut self) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.debug.gdb.is_some() {
            return self.gdb_breakpoints(true);
        }
        Ok(())
    }

    /// The deadline of a call: none while a debugger is attached, since a guest
    /// stopped at a breakpoint must not time out.
    #[inline]
    pub(crate) fn debug_timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        #[cfg(feature = "gdb")]
        if self.debug.gdb.is_some() {
            return None;
        }
        timeout
    }
}
