//! Strategies shared by the properties: any JSON, objects whose fields are each valid,
//! missing, null, mistyped or empty, and bodies that are such objects, other JSON, or bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// The last second of 9999-12-31, the end of the wire formats' four-digit years.
pub(crate) const LAST_SECOND: u64 = 253_402_300_799;

/// Any JSON value, nested up to three levels.
pub(crate) fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A field that is mostly `valid`, else missing, null, an empty string or any JSON.
pub(crate) fn field(valid: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        8 => valid.prop_map(Some),
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        1 => Just(Some(Value::String(String::new()))),
        1 => any_json().prop_map(Some),
    ]
    .boxed()
}

/// An object with these fields (each from [`field`] or given as is), plus a random extra one.
pub(crate) fn object(
    fields: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
) -> BoxedStrategy<Value> {
    let (names, strategies): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    (
        strategies,
        proptest::option::weighted(0.2, ("[a-zA-Z]{1,8}", any_json())),
    )
        .prop_map(move |(values, extra)| {
            let mut object = Map::new();
            if let Some((name, value)) = extra {
                object.insert(name, value);
            }
            for (name, value) in names.iter().zip(values) {
                if let Some(value) = value {
                    object.insert((*name).to_owned(), value);
                }
            }
            Value::Object(object)
        })
        .boxed()
}

/// An answer's body, shown as text in a failure report.
#[derive(Clone)]
pub(crate) struct Body(pub(crate) Vec<u8>);

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A body: mostly `value` serialized, else any JSON, any bytes, or `value` cut short.
pub(crate) fn body(value: BoxedStrategy<Value>) -> BoxedStrategy<Body> {
    prop_oneof![
        6 => value.clone().prop_map(|v| v.to_string().into_bytes()),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        1 => vec(any::<u8>(), 0..64),
        1 => (value, any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        }),
    ]
    .prop_map(Body)
    .boxed()
}

/// A non-empty string of any characters.
pub(crate) fn text() -> BoxedStrategy<String> {
    any::<String>()
        .prop_filter("non-empty", |s| !s.is_empty())
        .boxed()
}

/// A JSON string from [`text`].
pub(crate) fn json_text() -> BoxedStrategy<Value> {
    text().prop_map(Value::String).boxed()
}

/// A whole second between 1970 and 9999.
pub(crate) fn whole_second() -> BoxedStrategy<SystemTime> {
    (0..=LAST_SECOND)
        .prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .boxed()
}

/// An instant in whole milliseconds between 1970 and 9999.
pub(crate) fn whole_milli() -> BoxedStrategy<SystemTime> {
    (0..=LAST_SECOND * 1000)
        .prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        .boxed()
}
