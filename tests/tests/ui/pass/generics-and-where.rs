use std::fmt::Display;

#[ecs_protect::protected]
fn describe<T, U: Clone>(value: T, other: &U) -> String
where
    T: Display,
{
    let _copy = other.clone();
    format!("{value}")
}

#[ecs_protect::protected]
fn first<'a, T>(items: &'a [T]) -> Option<&'a T> {
    items.first()
}

fn main() {
    assert_eq!(describe(7, &"x"), "7");
    assert_eq!(first(&[1, 2]), Some(&1));
}
