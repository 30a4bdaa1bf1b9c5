//! Calls that go guest -> host -> guest: the host's `HostRecurse` calls `RecurseThen`
//! back, one level less each time, until the deepest level does `what`.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hyperlight_guest::{call_host, register_function, FunctionError};

pub fn register() {
    register_function("RecurseThen", recurse_then);
    register_function("ShareBuffer", share_buffer);
    register_function("CodeAddress", || recurse_then as *const () as u64);
    // Hands the host function `HostTouch` any address (a hostile guest's pointer).
    register_function("TouchAt", |addr: u64, len: u64| call_host::<()>("HostTouch", (addr, len)));
}

/// At `levels == 0`: `what` ("ok" returns 0, "fault" executes ud2, "panic" panics,
/// "spin" tells the host and spins); otherwise calls the host's `HostRecurse`, which
/// calls this again with one level less, and adds one to what comes back.
fn recurse_then(levels: u32, what: String) -> Result<u32, FunctionError> {
    if levels > 0 {
        let below: u32 = call_host("HostRecurse", (levels - 1, what))?;
        return Ok(below + 1);
    }
    match what.as_str() {
        "ok" => Ok(0),
        // SAFETY: ud2 raises #UD, which the host reports; nothing runs after it.
        "fault" => unsafe { core::arch::asm!("ud2", options(noreturn)) },
        "panic" => panic!("the deepest level gives up"),
        "spin" => {
            let _ = call_host::<()>("SpinStarted", ());
            loop {
                core::hint::spin_loop();
            }
        }
        other => Err(FunctionError::failed(alloc::format!("unknown action {other}"))),
    }
}

/// A buffer of `len` sevens, handed to the host function `HostTouch` (address and
/// length), which may change it in place; returns the buffer as it is afterwards.
fn share_buffer(len: u32) -> Result<Vec<u8>, FunctionError> {
    let buf = vec![7u8; len as usize];
    call_host::<()>("HostTouch", (buf.as_ptr() as u64, u64::from(len)))?;
    // The host wrote into the buffer while the guest waited: read it anew.
    Ok(buf.iter().map(|b| core::hint::black_box(*b)).collect())
}
