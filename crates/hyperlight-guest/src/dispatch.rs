//! The dispatch loop: wait for a call, run it, hand back its result, forever; and
//! the same for calls the host makes while the guest waits in a host call.

use alloc::format;
use alloc::vec::Vec;

use hyperlight_common::message::{read_frame, write_frame, FrameError, FunctionRef, GuestCall, HostMessage};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{FunctionError, FunctionResult};

use crate::buffers::Buffers;
use crate::function::{call_guest_function, name_of, table};
use crate::hot::exit;

/// Reports the function table, then serves calls until the host stops the VM.
///
/// The first exit through [`ExitPort::Ready`] (right after init) hands the host the
/// [`FunctionTable`](hyperlight_common::FunctionTable): every guest function's name
/// and signature, in index order. Each later turn: the host resumes the guest with a
/// [`HostMessage`] on top of the input buffer's stack; a call's result (or a batch's
/// results) goes into the output buffer, and the next `Ready` exit hands it over.
pub(crate) fn serve(buffers: Buffers) -> ! {
    write_or_abort(buffers, &table(), "the function table");
    loop {
        exit(ExitPort::Ready);
        match read_message(buffers) {
            Ok(HostMessage::Reply(_)) => {
                let e: FunctionResult =
                    Err(FunctionError::BadMessage { detail: "a reply, with no host call waiting".into() });
                write_or_abort(buffers, &e, "an error");
            }
            message => run(buffers, message),
        }
    }
}

/// What the host sent: the frame on top of the input stack, decoded (copied out).
pub(crate) fn read_message(buffers: Buffers) -> Result<HostMessage, FrameError> {
    buffers.with_input_frame(|frame| read_frame(frame))
}

/// Runs a call or a batch the host sent and writes its result into the output
/// buffer (the caller then exits through `Ready`). Anything else is answered with
/// the error saying so.
pub(crate) fn run(buffers: Buffers, message: Result<HostMessage, FrameError>) {
    crate::abort::rearm();
    match message {
        Ok(HostMessage::Call(GuestCall { function, args })) => {
            let result = call_guest_function(&function, args);
            write_result(buffers, &result, &function);
        }
        Ok(HostMessage::Batch(calls)) => {
            let mut results: Vec<FunctionResult> = Vec::with_capacity(calls.len());
            let functions: Vec<FunctionRef> = calls.iter().map(|c| c.function.clone()).collect();
            for (call, function) in calls.into_iter().zip(&functions) {
                let result = call_guest_function(function, call.args);
                let failed = result.is_err();
                results.push(result);
                if failed {
                    break;
                }
            }
            if let Err(FrameError::TooLarge { size, capacity }) = buffers.with_output(|out| write_frame(out, &results))
            {
                // Not all results fit: send those that do, and in place of the next one
                // the error saying so, so that the host learns which call it is.
                let error = |k: usize| -> FunctionResult {
                    let what = format!("result of {} (call {k} of a batch)", name_of(&functions[k]));
                    Err(FunctionError::TooLarge { what, size, capacity })
                };
                let room = buffers.output_capacity().saturating_sub(hyperlight_common::message::FRAME_HEADER + 16);
                let mut used = postcard::experimental::serialized_size(&error(0)).unwrap_or(usize::MAX);
                let mut fit = 0;
                for r in &results {
                    used = used.saturating_add(postcard::experimental::serialized_size(r).unwrap_or(usize::MAX));
                    if used > room {
                        break;
                    }
                    fit += 1;
                }
                results.truncate(fit.min(results.len().saturating_sub(1)));
                results.push(error(results.len()));
                write_or_abort(buffers, &results, "a batch's results");
            }
        }
        Ok(HostMessage::Reply(_)) => {
            let e: FunctionResult = Err(FunctionError::BadMessage { detail: "a reply where a call was due".into() });
            write_or_abort(buffers, &e, "an error");
        }
        Err(e) => {
            let e: FunctionResult = Err(FunctionError::BadMessage { detail: format!("host message: {e}") });
            write_or_abort(buffers, &e, "an error");
        }
    }
}

/// Writes `result` of `function`, or, if it does not fit the output buffer,
/// [`FunctionError::TooLarge`] in its place.
fn write_result(buffers: Buffers, result: &FunctionResult, function: &FunctionRef) {
    let Err(FrameError::TooLarge { size, capacity }) = buffers.with_output(|out| write_frame(out, result)) else {
        // Written (serializing our own `Value`s cannot fail any other way).
        return;
    };
    let what = format!("result of {}", name_of(function));
    let too_large: FunctionResult = Err(FunctionError::TooLarge { what, size, capacity });
    write_or_abort(buffers, &too_large, "a result");
}

/// Writes `msg`, or aborts if not even it fits: the buffer is smaller than any useful
/// message.
fn write_or_abort<T: serde::Serialize + ?Sized>(buffers: Buffers, msg: &T, what: &str) {
    if let Err(e) = buffers.with_output(|out| write_frame(out, msg)) {
        crate::abort::abort_with(
            hyperlight_common::AbortKind::Abort { code: -1 },
            format_args!("the output buffer ({} bytes) cannot hold {what}: {e}", buffers.output_capacity()),
        );
    }
}
