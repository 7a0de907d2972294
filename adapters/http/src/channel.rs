//! Delivery for the JSON API channel.
//!
//! API clients read replies from the conversation endpoint (and the send call returns
//! them), so delivering means recording that the message is ready to be read; the outcome
//! is an event like any other channel's. Staff notices on this channel are read in the
//! conversation too.

use async_trait::async_trait;
use switchboard_engine::ports::{DeliveryError, Notifier, Outbound};
use tracing::debug;

/// The JSON API channel's notifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApiChannel;

#[async_trait]
impl Notifier for ApiChannel {
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError> {
        debug!(team = %message.team, outbound_id = %message.outbound_id, chars = message.text.chars().count(), "ready on the API");
        Ok(())
    }
}
