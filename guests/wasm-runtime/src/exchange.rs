//! Strings and byte arrays in and out of the module's linear memory.
//!
//! In: the runtime asks the module's allocator export (`hl_alloc(len) -> ptr`) for
//! `len` bytes and writes them there. Out: the module names `(ptr, len)` and the
//! runtime copies the bytes after checking that they lie inside its memory.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hyperlight_wasm_common::{CallFailure, ALLOC_EXPORT, MEMORY_EXPORT};
use wasmi::AsContextMut;

use crate::state::State;

/// Writes `bytes` into the module's memory through its allocator; returns the
/// pointer. `what` names the value in errors.
pub fn write_in(mut ctx: impl AsContextMut<Data = State>, bytes: &[u8], what: &str) -> Result<u32, CallFailure> {
    let (alloc, memory) = {
        let ctx = ctx.as_context();
        (ctx.data().alloc, ctx.data().memory)
    };
    let (Some(alloc), Some(memory)) = (alloc, memory) else {
        return Err(CallFailure::NoAllocator {
            what: format!("{what} (the module must export `{ALLOC_EXPORT}` and `{MEMORY_EXPORT}`)"),
        });
    };
    let len = u32::try_from(bytes.len()).map_err(|_| CallFailure::OutOfBounds {
        what: String::from(what),
        ptr: 0,
        len: u32::MAX,
    })?;
    #[allow(clippy::cast_possible_wrap)] // Wasm's i32 is the u32 length, bit for bit
    let ptr = match alloc.call(&mut ctx, len as i32) {
        #[allow(clippy::cast_sign_loss)]
        Ok(ptr) => ptr as u32,
        Err(e) => {
            let mut ctx = ctx.as_context_mut();
            return Err(crate::trap::failure(&e, ctx.data_mut(), None));
        }
    };
    let out_of_bounds = || CallFailure::OutOfBounds { what: format!("{what}: `{ALLOC_EXPORT}` returned"), ptr, len };
    let dest = memory
        .data_mut(&mut ctx)
        .get_mut(ptr as usize..)
        .and_then(|m| m.get_mut(..bytes.len()))
        .ok_or_else(out_of_bounds)?;
    dest.copy_from_slice(bytes);
    Ok(ptr)
}

/// Copies `len` bytes at `ptr` out of the module's memory.
pub fn read_out(
    ctx: impl wasmi::AsContext<Data = State>,
    ptr: u32,
    len: u32,
    what: &str,
) -> Result<Vec<u8>, CallFailure> {
    let Some(memory) = ctx.as_context().data().memory else {
        return Err(CallFailure::NoAllocator { what: format!("{what} (the module exports no `{MEMORY_EXPORT}`)") });
    };
    let data = memory.data(&ctx);
    let out_of_bounds = || CallFailure::OutOfBounds { what: String::from(what), ptr, len };
    let start = ptr as usize;
    let end = start.checked_add(len as usize).ok_or_else(out_of_bounds)?;
    let src = data.get(start..end).ok_or_else(out_of_bounds)?;
    let mut out = vec![0u8; src.len()];
    out.copy_from_slice(src);
    Ok(out)
}

/// Checks that `bytes` are UTF-8 and makes them a `String`.
pub fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, CallFailure> {
    String::from_utf8(bytes).map_err(|_| CallFailure::InvalidUtf8 { what: String::from(what) })
}
