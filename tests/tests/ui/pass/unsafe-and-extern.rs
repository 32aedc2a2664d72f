#![allow(unsafe_code)]

#[ecs_protect::protected]
unsafe fn trusted(value: u32) -> u32 {
    value
}

#[ecs_protect::protected]
extern "C" fn callback(value: u32) -> u32 {
    value + 1
}

fn main() {
    // SAFETY: `trusted` has no preconditions; it only shows the attribute keeps `unsafe`.
    assert_eq!(unsafe { trusted(1) }, 1);
    assert_eq!(callback(1), 2);
}
