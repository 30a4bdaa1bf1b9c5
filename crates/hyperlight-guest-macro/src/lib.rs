//! `#[guest_function]`: makes a Rust function of a hyperlight guest callable by the
//! host, registered before the guest's init runs, under its own name or a given one.
//!
//! ```ignore
//! // ignore: a guest builds only for x86_64-unknown-none.
//! use hyperlight_guest::guest_function;
//!
//! #[guest_function]
//! fn add(a: i32, b: i32) -> i32 {   // the host calls it "add"
//!     a.wrapping_add(b)
//! }
//!
//! #[guest_function("SayHello")]     // ... and this one "SayHello"
//! fn say_hello(name: String) -> String {
//!     alloc::format!("Hello, {name}!")
//! }
//! ```
//!
//! It expands to the function itself and an entry in a link-time list
//! (`hyperlight_guest::GUEST_FUNCTIONS`, a `linkme` distributed slice) that calls
//! `hyperlight_guest::register_function(name, function)`; the runtime runs every
//! entry before the program's init. The function's signature is what
//! `register_function` accepts (up to 12 parameters of the boundary types, a value
//! or `Result<_, FunctionError>` back), checked by the compiler as there, and it
//! reaches the host's function table the same way.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, ItemFn, LitStr};

/// Registers the function under its name, or under the string given:
/// `#[guest_function]` or `#[guest_function("Name")]`.
#[proc_macro_attribute]
pub fn guest_function(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    let ident = &function.sig.ident;
    let name = if attr.is_empty() { ident.to_string() } else { parse_macro_input!(attr as LitStr).value() };
    if !function.sig.generics.params.is_empty() {
        return syn::Error::new_spanned(&function.sig.generics, "a guest function cannot be generic")
            .to_compile_error()
            .into();
    }
    let entry = format_ident!("__HYPERLIGHT_GUEST_FUNCTION_{}", ident.to_string().to_uppercase());
    quote! {
        #function

        #[::hyperlight_guest::__linkme::distributed_slice(::hyperlight_guest::GUEST_FUNCTIONS)]
        #[linkme(crate = ::hyperlight_guest::__linkme)]
        #[doc(hidden)]
        static #entry: fn() = || ::hyperlight_guest::register_function(#name, #ident);
    }
    .into()
}
