//! The seccomp filter of a vCPU thread in seccomp mode (see `vm/vcpu_thread.rs`).
//!
//! The thread that enters the guest is the one a hypervisor escape would find itself
//! on. In seccomp mode it may make only the system calls a run needs, and any other
//! kills the whole process (`SECCOMP_RET_KILL_PROCESS`: the process dies with
//! SIGSYS; a half-dead process that went on serving requests would be worse):
//!
//! | call | why |
//! |---|---|
//! | `ioctl(_, KVM_RUN, _)` | the run itself (and completing pending I/O) |
//! | `futex`, `clock_gettime` | the hand-off with the caller's thread (parking; the spin's clock, should the vDSO be missing) |
//! | `rt_sigreturn` | returning from the interrupt signal's handler (kill) |
//! | `rt_sigprocmask`, `sched_yield` | what the C library does around them |
//! | `write` to fd 1 or 2 | a panic message, should there be one |
//! | `sigaltstack`, `madvise`, `munmap`, `exit` | the thread's own end (Rust drops its signal stack, the C library frees its stack) |
//!
//! Everything else is refused, `ioctl` with any other request included: the vCPU's
//! other ioctls (registers, dirty log) run on the caller's thread.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::vm::vcpu_thread::VcpuThreadError;

/// `KVM_RUN`: `_IO(KVMIO, 0x80)`.
const KVM_RUN: u64 = 0xae80;

/// The filter, compiled once per process.
fn program() -> Result<&'static BpfProgram, VcpuThreadError> {
    static PROGRAM: OnceLock<Result<BpfProgram, String>> = OnceLock::new();
    PROGRAM
        .get_or_init(|| compile().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| VcpuThreadError::Seccomp(std::io::Error::other(e.clone())))
}

fn compile() -> Result<BpfProgram, seccompiler::Error> {
    let arg = |index, value| SeccompCondition::new(index, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value);
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_ioctl, vec![SeccompRule::new(vec![arg(1, KVM_RUN)?])?]);
    rules.insert(libc::SYS_write, vec![SeccompRule::new(vec![arg(0, 1)?])?, SeccompRule::new(vec![arg(0, 2)?])?]);
    for call in [
        libc::SYS_futex,
        libc::SYS_rt_sigreturn,
        libc::SYS_rt_sigprocmask,
        libc::SYS_sched_yield,
        libc::SYS_clock_gettime,
        libc::SYS_madvise,
        libc::SYS_munmap,
        libc::SYS_sigaltstack,
        libc::SYS_exit,
    ] {
        rules.insert(call, vec![]);
    }
    let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, TargetArch::x86_64)?;
    filter.try_into().map_err(seccompiler::Error::Backend)
}

/// Applies the filter to the calling thread (only: not the process).
pub(crate) fn apply() -> Result<(), VcpuThreadError> {
    let program = program()?;
    seccompiler::apply_filter(program).map_err(|e| VcpuThreadError::Seccomp(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_compiles() {
        assert!(super::program().is_ok());
    }
}
