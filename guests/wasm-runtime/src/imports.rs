//! The host functions a module imports: their Wasm signatures, the check of the
//! module's imports against them, and the call through to the host.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hyperlight_common::{Value, ValueType};
use hyperlight_guest::call_host;
use hyperlight_wasm_common::{decode, encode, CallFailure, ImportDecl, ImportOutcome, IMPORT_FUNCTION};
use wasmi::{Caller, FuncType, Linker, Val, ValType, F32, F64};

use crate::exchange;
use crate::state::State;

/// The Wasm parameter types of one host parameter (or argument).
pub fn wasm_params(t: ValueType) -> &'static [ValType] {
    match t {
        ValueType::I32 | ValueType::U32 | ValueType::Bool => &[ValType::I32],
        ValueType::I64 | ValueType::U64 => &[ValType::I64],
        ValueType::F32 => &[ValType::F32],
        ValueType::F64 => &[ValType::F64],
        ValueType::String | ValueType::Bytes => &[ValType::I32, ValType::I32],
        ValueType::Unit => &[],
    }
}

/// The Wasm result types of a host result.
fn wasm_results(t: ValueType) -> &'static [ValType] {
    match t {
        ValueType::String | ValueType::Bytes => &[ValType::I64],
        other => wasm_params(other),
    }
}

/// The Wasm function type of a host function (see [`ImportDecl`]).
pub fn func_type(decl: &ImportDecl) -> FuncType {
    let params: Vec<ValType> = decl.params.iter().flat_map(|t| wasm_params(*t).iter().copied()).collect();
    let results: Vec<ValType> = wasm_results(decl.result).to_vec();
    FuncType::new(params, results)
}

/// A function type as text, `(i32, i32) -> (i64)`, for error messages.
pub fn describe(ty: &FuncType) -> String {
    let list = |types: &[ValType]| types.iter().map(|t| format!("{t:?}").to_lowercase()).collect::<Vec<_>>().join(", ");
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

/// Defines every host function in `linker`.
pub fn define(linker: &mut Linker<State>, imports: &[ImportDecl]) -> Result<(), String> {
    for (index, decl) in imports.iter().enumerate() {
        let ty = func_type(decl);
        linker
            .func_new(&decl.module, &decl.name, ty, move |mut caller, params, results| {
                call(&mut caller, index, params, results)
            })
            .map_err(|e| format!("{e}"))?;
    }
    Ok(())
}

/// One call of host function `index` from the module.
fn call(caller: &mut Caller<'_, State>, index: usize, params: &[Val], results: &mut [Val]) -> Result<(), wasmi::Error> {
    let Some(decl) = caller.data().imports.get(index).cloned() else {
        return Err(wasmi::Error::new("host function index out of range"));
    };
    let failed =
        |message: String| CallFailure::HostFunction { module: decl.module.clone(), name: decl.name.clone(), message };
    let args = match arguments(caller, &decl, params) {
        Ok(args) => args,
        Err(f) => return Err(caller.data_mut().fail(f)),
    };
    #[allow(clippy::cast_possible_truncation)] // the host registers far fewer than 2^32 functions
    let reply = call_host::<Vec<u8>>(IMPORT_FUNCTION, (index as u32, encode(&args)));
    let outcome: ImportOutcome = match reply {
        Ok(bytes) => decode(&bytes).unwrap_or_else(|e| Err(format!("undecodable reply: {e}"))),
        Err(e) => Err(format!("{e}")),
    };
    let value = match outcome {
        Ok(value) => value,
        Err(message) => return Err(caller.data_mut().fail(failed(message))),
    };
    match result(caller, &decl, value, results) {
        Ok(()) => Ok(()),
        Err(f) => Err(caller.data_mut().fail(f)),
    }
}

/// The host function's arguments, from the Wasm parameters.
#[allow(clippy::cast_sign_loss)] // Wasm integers are sign-agnostic: u32/u64 are the same bits
fn arguments(caller: &Caller<'_, State>, decl: &ImportDecl, params: &[Val]) -> Result<Vec<Value>, CallFailure> {
    let mut args = Vec::with_capacity(decl.params.len());
    let mut it = params.iter();
    let mut next = || it.next().cloned().unwrap_or(Val::I32(0));
    for (i, t) in decl.params.iter().enumerate() {
        let v = next();
        let value = match (t, v) {
            (ValueType::I32, Val::I32(x)) => Value::I32(x),
            (ValueType::U32, Val::I32(x)) => Value::U32(x as u32),
            (ValueType::Bool, Val::I32(x)) => Value::Bool(x != 0),
            (ValueType::I64, Val::I64(x)) => Value::I64(x),
            (ValueType::U64, Val::I64(x)) => Value::U64(x as u64),
            (ValueType::F32, Val::F32(x)) => Value::F32(x.to_float()),
            (ValueType::F64, Val::F64(x)) => Value::F64(x.to_float()),
            (ValueType::String | ValueType::Bytes, Val::I32(ptr)) => {
                let len = match next() {
                    Val::I32(len) => len as u32,
                    _ => 0,
                };
                let what = format!("argument {i} of {}::{}", decl.module, decl.name);
                let bytes = exchange::read_out(caller, ptr as u32, len, &what)?;
                if *t == ValueType::String {
                    Value::String(exchange::utf8(bytes, &what)?)
                } else {
                    Value::Bytes(bytes)
                }
            }
            // The linker checked the module's signature against ours.
            _ => Value::Unit,
        };
        args.push(value);
    }
    Ok(args)
}

/// Writes the host function's result into the Wasm results.
#[allow(clippy::cast_possible_wrap)]
fn result(
    caller: &mut Caller<'_, State>,
    decl: &ImportDecl,
    value: Value,
    results: &mut [Val],
) -> Result<(), CallFailure> {
    let val = match value {
        Value::Unit => return Ok(()),
        Value::I32(x) => Val::I32(x),
        Value::U32(x) => Val::I32(x as i32),
        Value::Bool(x) => Val::I32(i32::from(x)),
        Value::I64(x) => Val::I64(x),
        Value::U64(x) => Val::I64(x as i64),
        Value::F32(x) => Val::F32(F32::from_float(x)),
        Value::F64(x) => Val::F64(F64::from_float(x)),
        Value::String(s) => packed(caller, decl, s.as_bytes())?,
        Value::Bytes(b) => packed(caller, decl, &b)?,
    };
    if let Some(slot) = results.first_mut() {
        *slot = val;
    }
    Ok(())
}

/// Bytes written into the module, as the `ptr << 32 | len` of a string result.
fn packed(caller: &mut Caller<'_, State>, decl: &ImportDecl, bytes: &[u8]) -> Result<Val, CallFailure> {
    let what = format!("result of {}::{}", decl.module, decl.name);
    let ptr = exchange::write_in(&mut *caller, bytes, &what)?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    #[allow(clippy::cast_possible_wrap)]
    Ok(Val::I64(((u64::from(ptr) << 32) | len) as i64))
}
