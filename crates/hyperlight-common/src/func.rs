//! Argument lists and typed callables, shared by both registries (host functions on
//! the host, guest functions in the guest).
//!
//! An argument list is a Rust tuple of [`ParameterType`]s (up to 12), a single
//! parameter value, or `()` for none. A [`Callable`] is any `Fn` taking the
//! tuple's elements as parameters. Together they turn a typed Rust function into one
//! that takes and returns [`Value`]s, with the arity and types checked first:
//!
//! ```
//! use hyperlight_common::{Arguments, Callable, Value};
//!
//! fn add(a: i32, b: i32) -> i32 { a + b }
//! let args = <(i32, i32)>::from_values(vec![Value::I32(2), Value::I32(3)]).unwrap();
//! assert_eq!(Callable::call(&add, args), 5);
//! assert!(<(i32, i32)>::from_values(vec![Value::I32(2)]).is_err());
//! ```

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::value::{ParameterType, ReturnType, Value, ValueType};

/// Why a list of values does not fit a function's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentError {
    /// Wrong number of arguments.
    Count {
        /// Parameters the function takes.
        expected: u32,
        /// Arguments given.
        got: u32,
    },
    /// An argument has the wrong type.
    Type {
        /// Position of the argument, from 0.
        index: u32,
        /// The parameter's type.
        expected: ValueType,
        /// The argument's type.
        got: ValueType,
    },
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgumentError::Count { expected, got } => {
                write!(f, "expected {expected} arguments, got {got}")
            }
            ArgumentError::Type { index, expected, got } => {
                write!(f, "argument {index} should be {expected}, got {got}")
            }
        }
    }
}

impl core::error::Error for ArgumentError {}

/// A Rust argument list: `()`, one [`ParameterType`], or a tuple of them.
pub trait Arguments: Sized {
    /// The parameter types, in order.
    fn types() -> Vec<ValueType>;
    /// The arguments as values, in order.
    fn into_values(self) -> Vec<Value>;
    /// The argument list from values, checking count and types.
    fn from_values(values: Vec<Value>) -> Result<Self, ArgumentError>;
}

fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<T: ParameterType> Arguments for T {
    fn types() -> Vec<ValueType> {
        vec![T::TYPE]
    }
    fn into_values(self) -> Vec<Value> {
        vec![self.into_value()]
    }
    fn from_values(values: Vec<Value>) -> Result<Self, ArgumentError> {
        let t = <(T,)>::from_values(values)?;
        Ok(t.0)
    }
}

impl Arguments for () {
    fn types() -> Vec<ValueType> {
        Vec::new()
    }
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
    fn from_values(values: Vec<Value>) -> Result<Self, ArgumentError> {
        if values.is_empty() {
            Ok(())
        } else {
            Err(ArgumentError::Count { expected: 0, got: u32_len(values.len()) })
        }
    }
}

/// A function that can be called with an argument list `Args` (a tuple).
///
/// Implemented for every `Fn` of up to 12 parameters; `Args` is the tuple of its
/// parameter types.
pub trait Callable<Args> {
    /// What the function returns.
    type Output;
    /// Calls the function with the elements of `args` as its parameters.
    fn call(&self, args: Args) -> Self::Output;
}

impl<F: Fn() -> R, R> Callable<()> for F {
    type Output = R;
    fn call(&self, _args: ()) -> R {
        self()
    }
}

/// What a function may return: a [`ReturnType`] (which cannot fail) or a
/// `Result<T, E>` of one.
///
/// The host's registry requires `E: Display` (the message reaches the guest); the
/// guest's requires `E: Into<FunctionError>`.
pub trait FunctionOutput {
    /// The error type (`Infallible` for plain values).
    type Error;
    /// The return value as a [`Value`], or the function's error.
    fn into_result(self) -> Result<Value, Self::Error>;
}

impl<T: ReturnType> FunctionOutput for T {
    type Error = core::convert::Infallible;
    fn into_result(self) -> Result<Value, Self::Error> {
        Ok(self.into_value())
    }
}

impl<T: ReturnType, E> FunctionOutput for Result<T, E> {
    type Error = E;
    fn into_result(self) -> Result<Value, E> {
        self.map(ReturnType::into_value)
    }
}

macro_rules! arity {
    ($n:expr; $($t:ident $v:ident $i:tt),+) => {
        impl<$($t: ParameterType),+> Arguments for ($($t,)+) {
            fn types() -> Vec<ValueType> {
                vec![$($t::TYPE),+]
            }
            fn into_values(self) -> Vec<Value> {
                vec![$(self.$i.into_value()),+]
            }
            fn from_values(values: Vec<Value>) -> Result<Self, ArgumentError> {
                if values.len() != $n {
                    return Err(ArgumentError::Count { expected: $n, got: u32_len(values.len()) });
                }
                let mut it = values.into_iter();
                Ok(($(
                    {
                        let v = it.next().ok_or(ArgumentError::Count { expected: $n, got: $i })?;
                        $t::from_value(v).map_err(|v| ArgumentError::Type {
                            index: $i,
                            expected: $t::TYPE,
                            got: v.value_type(),
                        })?
                    },
                )+))
            }
        }

        impl<Func, Ret, $($t),+> Callable<($($t,)+)> for Func
        where
            Func: Fn($($t),+) -> Ret,
        {
            type Output = Ret;
            fn call(&self, args: ($($t,)+)) -> Ret {
                let ($($v,)+) = args;
                self($($v),+)
            }
        }
    };
}

arity!(1; A a 0);
arity!(2; A a 0, B b 1);
arity!(3; A a 0, B b 1, C c 2);
arity!(4; A a 0, B b 1, C c 2, D d 3);
arity!(5; A a 0, B b 1, C c 2, D d 3, E e 4);
arity!(6; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5);
arity!(7; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6);
arity!(8; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6, I i 7);
arity!(9; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6, I i 7, J j 8);
arity!(10; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6, I i 7, J j 8, K k 9);
arity!(11; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6, I i 7, J j 8, K k 9, L l 10);
arity!(12; A a 0, B b 1, C c 2, D d 3, E e 4, G g 5, H h 6, I i 7, J j 8, K k 9, L l 10, M m 11);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn call_with<Args: Arguments, F: Callable<Args>>(f: F, values: Vec<Value>) -> Result<F::Output, ArgumentError> {
        Ok(f.call(Args::from_values(values)?))
    }

    #[test]
    fn checks_count_and_types() {
        let f = |a: i32, s: String, b: bool| if b { i32::try_from(s.len()).expect("short test string") + a } else { a };
        assert_eq!(call_with(f, vec![Value::I32(1), Value::String("abc".into()), Value::Bool(true)]), Ok(4));
        assert_eq!(call_with(f, vec![Value::I32(1)]), Err(ArgumentError::Count { expected: 3, got: 1 }));
        assert_eq!(
            call_with(f, vec![Value::I32(1), Value::U64(2), Value::Bool(true)]),
            Err(ArgumentError::Type { index: 1, expected: ValueType::String, got: ValueType::U64 })
        );
        assert_eq!(call_with(|| 9u64, vec![]), Ok(9));
        assert_eq!(call_with(|| 9u64, vec![Value::Unit]), Err(ArgumentError::Count { expected: 0, got: 1 }));
    }

    #[test]
    fn single_value_is_an_argument_list() {
        assert_eq!(5i32.into_values(), vec![Value::I32(5)]);
        assert_eq!(<i32 as Arguments>::from_values(vec![Value::I32(5)]), Ok(5));
        assert_eq!((1u32, 2.5f64).into_values(), vec![Value::U32(1), Value::F64(2.5)]);
        assert_eq!(<(i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32)>::types().len(), 12);
    }
}
