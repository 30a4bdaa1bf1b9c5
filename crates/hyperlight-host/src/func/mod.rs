//! Host functions: the registry the guest calls into, and typed argument conversion.

pub(crate) mod batch;
pub(crate) mod caller;
pub(crate) mod guest_function;
pub(crate) mod host_functions;
