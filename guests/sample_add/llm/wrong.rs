//! Wrong: saturates instead of wrapping, so the two hidden overflow tests fail.
#[no_mangle]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    a.saturating_add(b)
}
