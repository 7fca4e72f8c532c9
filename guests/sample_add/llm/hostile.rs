//! Hostile: never returns. The sandbox stops it when its fuel runs out.
#[no_mangle]
pub extern "C" fn solve(a: i32, b: i32) -> i32 {
    let mut x = a;
    loop {
        x = std::hint::black_box(x.wrapping_add(b));
    }
}
