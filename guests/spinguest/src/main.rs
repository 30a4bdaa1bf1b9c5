//! A guest whose initialisation never finishes: it spins in its init function. It
//! exists to test the init deadline of `SandboxBuilder::build_*`.
#![no_std]
#![no_main]

hyperlight_guest::main!(init);

fn init() {
    loop {
        core::hint::spin_loop();
    }
}
