#[ecs_protect::protected]
fn total(items: impl IntoIterator<Item = u32>) -> impl Fn(u32) -> u32 {
    let sum: u32 = items.into_iter().sum();
    move |extra| sum + extra
}

fn main() {
    assert_eq!(total([1, 2])(3), 6);
}
