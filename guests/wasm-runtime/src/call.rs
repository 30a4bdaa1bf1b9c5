//! Calling exports: arguments into Wasm values, results back into host values.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hyperlight_common::{Value, ValueType};
use hyperlight_wasm_common::{decode, CallFailure, CallOutcome, CallRequest, RunOutcome, RunRequest, WasmType};
use wasmi::{Extern, Func, Val, ValType, F32, F64};

use crate::exchange;
use crate::load::{wasm_type, Loaded};

/// Handles one [`CallRequest`].
pub fn call(loaded: Option<&mut Loaded>, request: &[u8]) -> CallOutcome {
    let request: CallRequest = decode(request).map_err(|e| CallFailure::BadRequest { detail: e.to_string() })?;
    let loaded = loaded.ok_or(CallFailure::NotLoaded)?;
    let result = call_export(loaded, &request);
    loaded.store.data_mut().wasi.flush();
    result
}

/// Handles one [`RunRequest`]: `_start`, with the request's argv and environment.
pub fn run(loaded: Option<&mut Loaded>, request: &[u8]) -> RunOutcome {
    let request: RunRequest = decode(request).map_err(|e| CallFailure::BadRequest { detail: e.to_string() })?;
    let loaded = loaded.ok_or(CallFailure::NotLoaded)?;
    let start = match loaded.instance.get_export(&loaded.store, "_start") {
        Some(Extern::Func(f)) => f,
        _ => return Err(CallFailure::NotACommand),
    };
    let state = loaded.store.data_mut();
    state.wasi.args = request.args;
    state.wasi.env = request.env;
    state.failure = None;
    let _ = loaded.store.set_fuel(request.fuel.unwrap_or(u64::MAX));
    let result = start.call(&mut loaded.store, &[], &mut []);
    let state = loaded.store.data_mut();
    state.wasi.flush();
    match result {
        Ok(()) => Ok(0),
        Err(e) => match crate::trap::failure(&e, state, request.fuel) {
            CallFailure::Exit { code } => Ok(code),
            other => Err(other),
        },
    }
}

fn call_export(loaded: &mut Loaded, request: &CallRequest) -> CallOutcome {
    let name = &request.export;
    let func: Func = match loaded.instance.get_export(&loaded.store, name) {
        Some(Extern::Func(f)) => f,
        Some(_) => return Err(CallFailure::NotAFunction { name: name.clone() }),
        None => return Err(CallFailure::NoSuchExport { name: name.clone() }),
    };
    let ty = func.ty(&loaded.store);
    check_arguments(name, ty.params(), &request.args)?;
    let result_types: Vec<ValType> = ty.results().to_vec();
    let reader = ResultReader::new(name, &result_types, request.result)?;

    let store = &mut loaded.store;
    store.data_mut().failure = None;
    // Strings and bytes go into the module's memory first (this may call its
    // allocator, which spends fuel of its own: the call's fuel is set after).
    let mut params = Vec::with_capacity(ty.params().len());
    let mut written: Vec<(u32, u32)> = Vec::new();
    for (i, arg) in request.args.iter().enumerate() {
        #[allow(clippy::cast_possible_wrap)] // Wasm integers are sign-agnostic bit patterns
        match arg {
            Value::I32(x) => params.push(Val::I32(*x)),
            Value::U32(x) => params.push(Val::I32(*x as i32)),
            Value::Bool(x) => params.push(Val::I32(i32::from(*x))),
            Value::I64(x) => params.push(Val::I64(*x)),
            Value::U64(x) => params.push(Val::I64(*x as i64)),
            Value::F32(x) => params.push(Val::F32(F32::from_float(*x))),
            Value::F64(x) => params.push(Val::F64(F64::from_float(*x))),
            Value::String(_) | Value::Bytes(_) => {
                let bytes = match arg {
                    Value::String(s) => s.as_bytes(),
                    Value::Bytes(b) => b.as_slice(),
                    _ => &[],
                };
                let _ = store.set_fuel(u64::MAX);
                let ptr = exchange::write_in(&mut *store, bytes, &format!("argument {i} of {name}"))?;
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                written.push((ptr, len));
                params.push(Val::I32(ptr as i32));
                params.push(Val::I32(len as i32));
            }
            Value::Unit => {}
        }
    }
    let mut results: Vec<Val> = result_types.iter().map(|t| Val::default_for_ty(*t)).collect();
    let _ = store.set_fuel(request.fuel.unwrap_or(u64::MAX));
    let outcome = func.call(&mut *store, &params, &mut results);
    if let Err(e) = outcome {
        let failure = crate::trap::failure(&e, store.data_mut(), request.fuel);
        return Err(failure);
    }
    let value = reader.read(&mut *store, &results)?;
    free(store, &written);
    Ok(value)
}

/// Hands what the runtime allocated back to the module, if it exports `hl_free`.
fn free(store: &mut wasmi::Store<crate::state::State>, written: &[(u32, u32)]) {
    let Some(free) = store.data().free else { return };
    let _ = store.set_fuel(u64::MAX);
    for &(ptr, len) in written {
        #[allow(clippy::cast_possible_wrap)]
        let _ = free.call(&mut *store, (ptr as i32, len as i32));
    }
}

/// The Wasm parameter slot(s) of a host value.
fn slots(v: &Value) -> &'static [ValType] {
    crate::imports::wasm_params(v.value_type())
}

/// Checks the arguments against the export's parameters, before anything is written
/// into the module.
fn check_arguments(name: &str, params: &[ValType], args: &[Value]) -> Result<(), CallFailure> {
    let wanted: usize = args.iter().map(|a| slots(a).len()).sum();
    if wanted != params.len() {
        return Err(CallFailure::ArgumentCount {
            export: name.to_string(),
            expected: params.iter().map(|t| wasm_type(*t)).collect(),
            got: args.iter().map(Value::value_type).collect(),
        });
    }
    let mut at = 0;
    for (i, arg) in args.iter().enumerate() {
        for slot in slots(arg) {
            if params[at] != *slot {
                return Err(CallFailure::ArgumentType {
                    export: name.to_string(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    expected: wasm_type(params[at]),
                    got: arg.value_type(),
                });
            }
            at += 1;
        }
    }
    Ok(())
}

/// How the export's results become the value the caller asked for.
enum ResultReader {
    Unit,
    Scalar(ValueType),
    /// A string or bytes as `(ptr, len)` results or one `ptr << 32 | len`.
    Pointer {
        string: bool,
        packed: bool,
        what: String,
    },
}

impl ResultReader {
    fn new(name: &str, results: &[ValType], requested: Option<ValueType>) -> Result<ResultReader, CallFailure> {
        use ValType as W;
        use ValueType as H;
        let reader = match (requested, results) {
            (None | Some(H::Unit), []) => Some(ResultReader::Unit),
            (None | Some(H::I32), [W::I32]) => Some(ResultReader::Scalar(H::I32)),
            (None | Some(H::I64), [W::I64]) => Some(ResultReader::Scalar(H::I64)),
            (None | Some(H::F32), [W::F32]) => Some(ResultReader::Scalar(H::F32)),
            (None | Some(H::F64), [W::F64]) => Some(ResultReader::Scalar(H::F64)),
            (Some(t @ (H::U32 | H::Bool)), [W::I32]) | (Some(t @ H::U64), [W::I64]) => Some(ResultReader::Scalar(t)),
            (Some(t @ (H::String | H::Bytes)), [W::I32, W::I32] | [W::I64]) => Some(ResultReader::Pointer {
                string: t == H::String,
                packed: results.len() == 1,
                what: format!("result of {name}"),
            }),
            _ => None,
        };
        reader.ok_or_else(|| CallFailure::ResultType {
            export: name.to_string(),
            results: results.iter().map(|t| wasm_type(*t)).collect::<Vec<WasmType>>(),
            requested,
        })
    }

    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // bit patterns
    fn read(&self, store: &mut wasmi::Store<crate::state::State>, results: &[Val]) -> Result<Value, CallFailure> {
        let first = results.first();
        Ok(match (self, first) {
            (ResultReader::Unit, _) => Value::Unit,
            (ResultReader::Scalar(ValueType::I32), Some(Val::I32(x))) => Value::I32(*x),
            (ResultReader::Scalar(ValueType::U32), Some(Val::I32(x))) => Value::U32(*x as u32),
            (ResultReader::Scalar(ValueType::Bool), Some(Val::I32(x))) => Value::Bool(*x != 0),
            (ResultReader::Scalar(ValueType::I64), Some(Val::I64(x))) => Value::I64(*x),
            (ResultReader::Scalar(ValueType::U64), Some(Val::I64(x))) => Value::U64(*x as u64),
            (ResultReader::Scalar(ValueType::F32), Some(Val::F32(x))) => Value::F32(x.to_float()),
            (ResultReader::Scalar(ValueType::F64), Some(Val::F64(x))) => Value::F64(x.to_float()),
            (ResultReader::Pointer { string, packed, what }, _) => {
                let (ptr, len) = match (packed, results) {
                    (true, [Val::I64(x)]) => ((*x as u64 >> 32) as u32, *x as u32),
                    (false, [Val::I32(p), Val::I32(l)]) => (*p as u32, *l as u32),
                    _ => (0, 0),
                };
                let bytes = exchange::read_out(&*store, ptr, len, what)?;
                free(store, &[(ptr, len)]);
                if *string {
                    Value::String(exchange::utf8(bytes, what)?)
                } else {
                    Value::Bytes(bytes)
                }
            }
            // `new` matched the result types, and the engine fills results of them.
            _ => Value::Unit,
        })
    }
}
