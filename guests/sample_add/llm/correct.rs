//! Correct: wrapping 32-bit addition, as an LLM would write it.
#[no_mangle]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}
