//! Debugging a guest: the gdb stub (feature `gdb`) and crash dumps (feature
//! `crashdump`). With neither feature, everything here compiles to nothing.
//!
//! A [`Debugger`] is the machine's [`ExitHook`]: it runs before each `KVM_RUN`, sees
//! every exit first and may consume it (a breakpoint, a step or a Ctrl-C for the
//! debugger) or observe it (a fault, for a crash dump). It knows the machine (vCPU
//! and memory), never the sandbox. See docs/debugging.md for the user's view.

#[cfg(feature = "crashdump")]
pub(crate) mod crash_dump;
#[cfg(feature = "gdb")]
pub(crate) mod gdb;
#[cfg(feature = "gdb")]
pub(crate) mod page_walk;
#[cfg(any(feature = "gdb", feature = "crashdump"))]
pub(crate) mod trap;

use crate::error::{BuildError, CallError};
use crate::vm::machine::{ExitHook, Machine};
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

/// A sandbox's debugging state: the machine's exit hook.
#[derive(Debug, Default)]
pub(crate) struct Debugger {
    #[cfg(feature = "gdb")]
    pub gdb: Option<Box<gdb::Session>>,
    #[cfg(feature = "crashdump")]
    pub crash_dumps: Option<crash_dump::CrashDumps>,
}

impl DebugConfig {
    /// Sets up what the builder asked for (with a debug port, waits until gdb
    /// attaches); `None` if it asked for nothing.
    pub(crate) fn start(&self) -> Result<Option<Box<dyn ExitHook>>, BuildError> {
        #[allow(unused_mut)]
        let mut debugger = Debugger::default();
        #[allow(unused_mut)]
        let mut any = false;
        #[cfg(feature = "gdb")]
        if let Some(port) = self.debug_port {
            let session = gdb::Session::accept(port).map_err(|source| BuildError::DebugPort { port, source })?;
            debugger.gdb = Some(Box::new(session));
            any = true;
        }
        #[cfg(feature = "crashdump")]
        if let Some(dir) = &self.crash_dump_dir {
            debugger.crash_dumps = Some(crash_dump::CrashDumps::new(dir.clone()));
            any = true;
        }
        Ok(any.then(|| Box::new(debugger) as Box<dyn ExitHook>))
    }
}

#[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(unused_variables))]
impl ExitHook for Debugger {
    fn before_run(&mut self, machine: &mut Machine) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.gdb.is_some() {
            return self.gdb_before_run(machine);
        }
        Ok(())
    }

    fn on_exit(&mut self, machine: &mut Machine, exit: VmExit) -> Result<Option<VmExit>, CallError> {
        #[cfg(feature = "gdb")]
        let exit = match self.gdb.is_some() {
            true => match self.gdb_exit(machine, exit)? {
                Some(exit) => exit,
                None => return Ok(None),
            },
            false => exit,
        };
        #[cfg(feature = "crashdump")]
        if let Some(dumps) = self.crash_dumps.as_mut() {
            dumps.on_exit(machine, &exit);
        }
        Ok(Some(exit))
    }

    /// The debugger's `int3`s come out, so that no snapshot (nor a sandbox made from
    /// one) carries them.
    fn before_snapshot(&mut self, machine: &mut Machine) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.gdb.is_some() {
            return self.gdb_breakpoints(machine, false);
        }
        Ok(())
    }

    /// The `int3`s go back in (a restore put the snapshot's bytes back over them).
    fn after_snapshot(&mut self, machine: &mut Machine) -> Result<(), CallError> {
        #[cfg(feature = "gdb")]
        if self.gdb.is_some() {
            return self.gdb_breakpoints(machine, true);
        }
        Ok(())
    }

    /// A guest stopped at a breakpoint must not time out.
    fn allows_deadlines(&self) -> bool {
        #[cfg(feature = "gdb")]
        if self.gdb.is_some() {
            return false;
        }
        true
    }

    #[cfg(feature = "crashdump")]
    fn last_crash_dump(&self) -> Option<&std::path::Path> {
        self.crash_dumps.as_ref().and_then(|c| c.last())
    }
}
