//! The dispatch loop: wait for a call, run it, hand back its result, forever.

use alloc::format;
use alloc::string::ToString;

use hyperlight_common::message::{read_frame, write_frame, FrameError};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{FunctionCall, FunctionError, FunctionResult};

use crate::buffers::Buffers;
use crate::exit::exit;
use crate::function::call_guest_function;

/// Serves calls until the host stops the VM.
///
/// Each turn: exit [`ExitPort::Ready`]; when the host resumes the guest, the input
/// buffer holds a [`FunctionCall`]; the [`FunctionResult`] goes into the output
/// buffer, and the next turn's exit hands it to the host. The first exit (right
/// after init) tells the host the guest is ready; the output buffer is then empty.
pub(crate) fn serve(buffers: Buffers) -> ! {
    loop {
        exit(ExitPort::Ready);
        crate::abort::rearm();
        let call: Result<FunctionCall, FrameError> = buffers.with_input(|input| read_frame(input));
        let (result, name) = match call {
            Ok(FunctionCall { name, args }) => (call_guest_function(name.clone(), args), name),
            Err(e) => (
                Err(FunctionError::BadMessage { detail: format!("function call: {e}") }),
                "(undecodable call)".to_string(),
            ),
        };
        write_result(buffers, &result, &name);
    }
}

/// Writes `result` of the guest function `name`, or, if it does not fit the output
/// buffer, [`FunctionError::TooLarge`] in its place.
fn write_result(buffers: Buffers, result: &FunctionResult, name: &str) {
    let Err(FrameError::TooLarge { size, capacity }) = buffers.with_output(|out| write_frame(out, result)) else {
        // Written (serializing our own `Value`s cannot fail any other way).
        return;
    };
    let too_large: FunctionResult = Err(FunctionError::TooLarge { what: format!("result of {name}"), size, capacity });
    if let Err(e) = buffers.with_output(|out| write_frame(out, &too_large)) {
        // Not even the error fits: the buffer is smaller than any useful message.
        crate::abort::abort_with(
            hyperlight_common::AbortKind::Abort { code: -1 },
            format_args!(
                "the output buffer ({} bytes) cannot hold the result of {name}: {e}",
                buffers.output_capacity()
            ),
        );
    }
}
