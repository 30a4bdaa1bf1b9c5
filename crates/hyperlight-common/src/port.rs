//! The I/O ports through which guest code exits to the host.
//!
//! A guest exits with `out %al, $port`: one VM exit, the cheapest way out of a
//! user-mode (CPL3) guest. The host's TSS I/O permission bitmap allows exactly the
//! [`ExitPort::user_ports`]; any other port is a general-protection fault in the guest.
//! The byte in `%al` is ignored for the user ports and carries the exception vector
//! for [`ExitPort::Fault`].

/// One reason for the guest to stop and hand control to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ExitPort {
    /// The guest is idle and waits for the next call. After init this means "ready";
    /// after a call, the output buffer holds the call's [`FunctionResult`](crate::message::FunctionResult).
    Ready = 0x10,
    /// The output buffer holds a [`FunctionCall`](crate::message::FunctionCall) of a
    /// host function; the host writes the reply into the input buffer and resumes.
    HostCall = 0x11,
    /// The guest gave up: the output buffer holds a [`GuestAbort`](crate::message::GuestAbort)
    /// (panic, out of memory, explicit abort). The guest is never resumed from here.
    Abort = 0x12,
    /// Used only by the host's own exception stubs (at CPL0): `%al` holds the vector.
    /// Not allowed from user mode.
    Fault = 0x1f,
}

impl ExitPort {
    /// The ports user-mode guest code may use (the TSS I/O bitmap allows exactly these).
    pub const fn user_ports() -> [ExitPort; 3] {
        [ExitPort::Ready, ExitPort::HostCall, ExitPort::Abort]
    }

    /// The port with this number, if it is one of ours.
    pub const fn from_port(port: u16) -> Option<ExitPort> {
        match port {
            0x10 => Some(ExitPort::Ready),
            0x11 => Some(ExitPort::HostCall),
            0x12 => Some(ExitPort::Abort),
            0x1f => Some(ExitPort::Fault),
            _ => None,
        }
    }

    /// The port number.
    pub const fn port(self) -> u16 {
        self as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_numbers_round_trip() {
        for p in [ExitPort::Ready, ExitPort::HostCall, ExitPort::Abort, ExitPort::Fault] {
            assert_eq!(ExitPort::from_port(p.port()), Some(p));
        }
        assert_eq!(ExitPort::from_port(0x80), None);
        assert!(!ExitPort::user_ports().contains(&ExitPort::Fault));
    }
}
