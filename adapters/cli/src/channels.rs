//! Routes each outbound message to the channel its conversation uses: WeCom for teams with
//! an application (and a secret), the JSON API otherwise; group chats to WeCom. Messages
//! for engineers (hand-overs, escalations) go to WeCom whenever the team has an
//! application, whatever channel the operator wrote on: engineers live in WeCom.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_engine::ports::{DeliveryError, GroupChatOrder, GroupChats, NoGroupChats, Notifier, Outbound};
use switchboard_http::ApiChannel;
use switchboard_schemas::event::{Channel, Recipient};
use switchboard_wecom::WecomClient;

/// The notifier and group-chat port of `serve`.
pub struct ChannelRouter {
    /// The WeCom client, for the teams it serves.
    pub wecom: Arc<WecomClient>,
}

#[async_trait]
impl Notifier for ChannelRouter {
    async fn deliver(&self, message: &Outbound) -> Result<(), DeliveryError> {
        let to_staff = matches!(message.to, Recipient::Staff(_));
        match message.channel {
            _ if to_staff && self.wecom.serves(&message.team) => self.wecom.deliver(message).await,
            Channel::Wecom if self.wecom.serves(&message.team) => self.wecom.deliver(message).await,
            Channel::Wecom => Err(DeliveryError::Permanent(format!(
                "team {} has no WeCom application with a secret; set its secret_ref variable",
                message.team
            ))),
            _ => ApiChannel.deliver(message).await,
        }
    }
}

#[async_trait]
impl GroupChats for ChannelRouter {
    async fn create(&self, order: &GroupChatOrder) -> Result<String, DeliveryError> {
        if self.wecom.serves(&order.team) {
            self.wecom.create(order).await
        } else {
            NoGroupChats.create(order).await
        }
    }
}
