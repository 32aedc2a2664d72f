//! [`Message`]: one SQS message as a handler sees it.

use std::collections::BTreeMap;

/// One message received from the queue.
///
/// A handler gets `&Message`; the consumer keeps the receipt handle to delete the message
/// after the handler succeeded, or to make it visible again.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use ecs_protect::mock::MemoryQueue;
/// use ecs_protect::sqs::QueueApi;
/// use std::time::Duration;
///
/// let queue = MemoryQueue::new();
/// queue.send("hello");
/// let received = queue.receive(1, Duration::ZERO, Duration::from_secs(30))?;
/// assert_eq!(received[0].body(), "hello");
/// assert_eq!(received[0].receive_count(), Some(1));
/// # }
/// # Ok::<(), ecs_protect::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub(crate) id: String,
    pub(crate) receipt_handle: String,
    pub(crate) body: String,
    pub(crate) md5_of_body: Option<String>,
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) message_attributes: BTreeMap<String, MessageAttribute>,
}

/// A user-defined message attribute (`MessageAttributes` in SQS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `Number`, `Binary`, or one of those with a custom suffix (`Number.int`).
    pub data_type: String,
    /// The value of a `String` or `Number` attribute.
    pub string_value: Option<String>,
    /// The value of a `Binary` attribute, base64-encoded as SQS sends it.
    pub binary_value_base64: Option<String>,
}

impl Message {
    /// A message with these parts, for fakes and tests of handlers.
    ///
    /// ```
    /// use ecs_protect::sqs::Message;
    ///
    /// let message = Message::new("id-1", "receipt-1", "{\"order\": 7}");
    /// assert_eq!(message.id(), "id-1");
    /// assert_eq!(message.attribute("ApproximateReceiveCount"), None);
    /// ```
    pub fn new(
        id: impl Into<String>,
        receipt_handle: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Message {
            id: id.into(),
            receipt_handle: receipt_handle.into(),
            body: body.into(),
            md5_of_body: None,
            attributes: BTreeMap::new(),
            message_attributes: BTreeMap::new(),
        }
    }

    /// Adds a system attribute (`ApproximateReceiveCount`, `SentTimestamp`, ...).
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// The message id SQS assigned (`MessageId`); stable across redeliveries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The receipt handle of this delivery (`ReceiptHandle`); new at each delivery.
    pub fn receipt_handle(&self) -> &str {
        &self.receipt_handle
    }

    /// The body, as sent.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The MD5 digest of the body SQS reported (`MD5OfBody`), hex; not checked by this crate.
    pub fn md5_of_body(&self) -> Option<&str> {
        self.md5_of_body.as_deref()
    }

    /// A system attribute by name (`ApproximateReceiveCount`, `SentTimestamp`,
    /// `MessageGroupId`, ...); the consumer asks SQS for all of them.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// Every system attribute SQS sent.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }

    /// A user-defined message attribute by name.
    pub fn message_attribute(&self, name: &str) -> Option<&MessageAttribute> {
        self.message_attributes.get(name)
    }

    /// Every user-defined message attribute SQS sent.
    pub fn message_attributes(&self) -> &BTreeMap<String, MessageAttribute> {
        &self.message_attributes
    }

    /// How many times this message has been received, this delivery included
    /// (`ApproximateReceiveCount`); `None` when SQS did not send it or it is not a number.
    pub fn receive_count(&self) -> Option<u32> {
        self.attribute("ApproximateReceiveCount")?.parse().ok()
    }
}
