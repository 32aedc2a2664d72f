//! The shared directory's record.

use std::time::UNIX_EPOCH;

use proptest::option;
use proptest::prelude::*;

use super::strategies::whole_milli;
use super::{check, ensure};
use crate::shared::record::Record;

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        option::of(whole_milli()).prop_map(|window_until| Record::Off { window_until }),
        (whole_milli(), whole_milli(), whole_milli()).prop_map(|(since, renewed, expires)| {
            Record::On {
                since,
                renewed,
                expires,
            }
        }),
        (option::of(whole_milli()), whole_milli())
            .prop_map(|(expires, retry_at)| Record::MaybeOn { expires, retry_at }),
    ]
}

const RETRY_NOW: Record = Record::MaybeOn {
    expires: None,
    retry_at: UNIX_EPOCH,
};

#[test]
fn a_record_reads_back_as_written() {
    check("record round trip", record(), |record| {
        let text = record.format();
        ensure(Record::parse(&text) == record, || {
            format!("{text:?} reads as {:?}", Record::parse(&text))
        })
    });
}

#[test]
fn any_text_reads_as_a_record_that_reads_back() {
    let text = prop_oneof![
        any::<String>(),
        "(on|off|maybe-on|-|[0-9]{1,22}| |\n|\t){0,6}",
        record().prop_map(|r| r.format()),
    ];
    check("record from any text", text, |text| {
        let record = Record::parse(&text);
        let again = Record::parse(&record.format());
        // The one change on the way back: the window's end rounds up to the millisecond.
        ensure(again == record || round_up(record) == again, || {
            format!("{text:?} reads as {record:?}, then {again:?}")
        })?;
        if text.trim().is_empty() {
            return Ok(());
        }
        // A torn or foreign text is "maybe on, retry now", never "off".
        let known = ["on ", "off", "maybe-on "]
            .iter()
            .any(|w| text.trim_start().starts_with(w));
        ensure(known || record == RETRY_NOW, || {
            format!("{text:?} reads as {record:?}")
        })
    });
}

fn round_up(record: Record) -> Record {
    match record {
        Record::Off {
            window_until: Some(at),
        } => {
            let ms = at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .div_ceil(1_000_000);
            Record::Off {
                window_until: Some(UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)),
            }
        }
        other => other,
    }
}
