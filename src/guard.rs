//! The boundary where a panic inside a dependency becomes an error. The
//! parquet and arrow crates can panic on malformed bytes (a bug there, not a
//! state of ours); history decoding runs inside [`catch`], so such a panic
//! turns into the corrupt-object error that names the object, and the
//! binary's panic hook ([`install_quiet_hook`]) keeps a caught panic off the
//! user's terminal. Any other panic still reaches the hook and exits 101:
//! that is a bug of ours, and it should be loud.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`; a panic inside it becomes `Err` with the panic's message.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Keep panics caught by [`catch`] quiet; every other panic is reported as before.
pub fn install_quiet_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !GUARDED.with(|g| g.get()) {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_becomes_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        let e = catch(|| -> u8 { panic!("offset + len out of bounds") }).unwrap_err();
        assert!(e.contains("offset + len"), "{e}");
        let e = catch(|| -> u8 { panic!("{} bytes", 3) }).unwrap_err();
        assert_eq!(e, "3 bytes");
        assert!(!GUARDED.with(|g| g.get()), "the guard is lifted afterwards");
    }
}
