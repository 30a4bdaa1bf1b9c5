//! Engine errors as typed records: every Wasm trap by name.

use alloc::string::ToString;

use hyperlight_wasm_common::{CallFailure, TrapKind};
use wasmi::TrapCode;

use crate::state::State;

/// The failure behind `error`, which ended a call that had `fuel` to spend.
///
/// A host function that stopped the call left its reason in the state; an exit
/// (`proc_exit`) is not a trap; everything else is a trap named by its code.
pub fn failure(error: &wasmi::Error, state: &mut State, fuel: Option<u64>) -> CallFailure {
    if let Some(failure) = state.failure.take() {
        return failure;
    }
    if let Some(code) = error.i32_exit_status() {
        return CallFailure::Exit { code };
    }
    CallFailure::Trap { trap: trap_kind(error, state, fuel), message: error.to_string() }
}

/// The kind of trap `error` is.
pub fn trap_kind(error: &wasmi::Error, state: &mut State, fuel: Option<u64>) -> TrapKind {
    let refused = state.limits.refused.take();
    match error.as_trap_code() {
        Some(TrapCode::UnreachableCodeReached) => TrapKind::Unreachable,
        Some(TrapCode::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
        Some(TrapCode::TableOutOfBounds) => TrapKind::TableOutOfBounds,
        Some(TrapCode::IndirectCallToNull) => TrapKind::IndirectCallToNull,
        Some(TrapCode::IntegerDivisionByZero) => TrapKind::IntegerDivisionByZero,
        Some(TrapCode::IntegerOverflow) => TrapKind::IntegerOverflow,
        Some(TrapCode::BadConversionToInteger) => TrapKind::InvalidConversionToInteger,
        Some(TrapCode::StackOverflow) => TrapKind::CallStackExhausted,
        Some(TrapCode::BadSignature) => TrapKind::IndirectCallTypeMismatch,
        Some(TrapCode::OutOfFuel) => TrapKind::OutOfFuel { fuel: fuel.unwrap_or(u64::MAX) },
        Some(TrapCode::GrowthOperationLimited) => match refused {
            Some((limit, requested)) => TrapKind::MemoryLimitReached { limit, requested },
            None => TrapKind::GrowthLimited,
        },
        Some(TrapCode::OutOfSystemMemory) => TrapKind::OutOfHeap,
        _ => TrapKind::Engine,
    }
}
