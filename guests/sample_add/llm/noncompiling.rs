//! Does not compile: returns an i64 where the signature promises an i32.
#[no_mangle]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    let sum: i64 = a as i64 + b as i64;
    sum
}
