//! `GuestFunction`: a typed handle to one guest function, checked once against the
//! function table the guest reported at init.
//!
//! A call through a handle names the function by its index (no name on the wire),
//! encodes its arguments straight into the input buffer from borrowed values (no
//! `Value`s, no `Vec`), and reads a small result through the stack: a call of a
//! scalar function makes no heap allocation on the host.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::func::EncodeArgs;
use hyperlight_common::message::{FunctionRefRef, GuestCallRef, HostMessageRef};
use hyperlight_common::{ArgumentRefs, Arguments, FunctionSignature, ReturnType};

use crate::error::CallError;
use crate::sandbox::builder::GuestId;
use crate::sandbox::sandbox::Sandbox;

/// A guest function of the parameters `P` (a tuple: `()`, `(i32,)`, `(i32, String)`...)
/// returning `R`, found and checked once by [`Sandbox::func`].
///
/// ```no_run
/// # let mut sandbox = hyperlight_host::SandboxBuilder::new().build_from_file("simpleguest")?;
/// let add = sandbox.func::<(i32, i32), i32>("Add")?;     // checked here, once
/// assert_eq!(add.call(&mut sandbox, (1, 2))?, 3);          // no name sent, no allocation
/// let echo = sandbox.func::<(String,), String>("EchoString")?;
/// assert_eq!(echo.call(&mut sandbox, ("borrowed",))?, "borrowed");  // &str for String
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A handle works on every sandbox of the same guest program (twins of one snapshot
/// included); on a sandbox of another guest it fails with
/// [`CallError::ForeignHandle`]. It is cheap to clone.
pub struct GuestFunction<P, R> {
    index: u32,
    name: Arc<str>,
    guest: GuestId,
    types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for GuestFunction<P, R> {
    fn clone(&self) -> Self {
        GuestFunction { index: self.index, name: Arc::clone(&self.name), guest: self.guest, types: PhantomData }
    }
}

impl<P, R> fmt::Debug for GuestFunction<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestFunction").field("name", &self.name).field("index", &self.index).finish()
    }
}

impl<P, R> GuestFunction<P, R> {
    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its index in the guest's function table.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
}

impl<P: Arguments, R: ReturnType> GuestFunction<P, R> {
    /// Calls the function in `sandbox` with `args`: a tuple of the parameter types, or
    /// of borrowed stand-ins for them (`&str` for `String`, `&[u8]` for `Vec<u8>`).
    pub fn call<T, A: ArgumentRefs<P>>(&self, sandbox: &mut Sandbox<T>, args: A) -> Result<R, CallError> {
        let timeout = sandbox.config().call_timeout;
        self.call_inner(sandbox, &args, timeout)
    }

    /// Like [`call`](GuestFunction::call), but stopped with [`CallError::Timeout`]
    /// after `timeout`.
    pub fn call_with_timeout<T, A: ArgumentRefs<P>>(
        &self,
        sandbox: &mut Sandbox<T>,
        args: A,
        timeout: Duration,
    ) -> Result<R, CallError> {
        self.call_inner(sandbox, &args, Some(timeout))
    }

    fn call_inner<T, A: ArgumentRefs<P>>(
        &self,
        sandbox: &mut Sandbox<T>,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<R, CallError> {
        if sandbox.guest_id() != self.guest {
            return Err(CallError::ForeignHandle { function: self.name.to_string() });
        }
        let args = EncodeArgs::<A, P>(args, PhantomData);
        let msg = HostMessageRef::Call(GuestCallRef { function: FunctionRefRef::Index(self.index), args });
        let value = sandbox.run_call(&msg, &self.name, timeout)?;
        // The signature was checked against the guest's table; only a guest that lies
        // about its table gets here with another type.
        R::from_value(value).map_err(|got| CallError::ReturnType {
            function: self.name.to_string(),
            expected: R::TYPE,
            got: got.value_type(),
        })
    }
}

impl<T> Sandbox<T> {
    /// A typed handle to the guest function `name` of parameters `P` (a tuple) and
    /// result `R`, checked now against the function table the guest reported at init:
    /// [`CallError::GuestFunctionNotFound`] if it has no such function,
    /// [`CallError::SignatureMismatch`] if its signature differs,
    /// [`CallError::NoFunctionTable`] if the guest reported no table.
    pub fn func<P: Arguments, R: ReturnType>(&self, name: &str) -> Result<GuestFunction<P, R>, CallError> {
        let table = self.functions().ok_or(CallError::NoFunctionTable)?;
        let (index, found) = table
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .ok_or_else(|| CallError::GuestFunctionNotFound { name: name.to_string() })?;
        let expected = FunctionSignature { name: name.to_string(), params: P::types(), returns: R::TYPE };
        if *found != expected {
            return Err(CallError::SignatureMismatch { expected, found: found.clone() });
        }
        let index = u32::try_from(index).map_err(|_| CallError::GuestFunctionNotFound { name: name.to_string() })?;
        Ok(GuestFunction { index, name: Arc::from(name), guest: self.guest_id(), types: PhantomData })
    }
}
