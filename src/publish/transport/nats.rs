//! NATS through async-nats (the NATS maintainers' client) on the publisher's tokio
//! runtime: a batch is published, then flushed (the server's PONG says it has read
//! every message before it). After a failure the client is dropped and a new one
//! connects; the batch is published again (a subscriber may see a message twice).
//! Core NATS itself does not store messages: subscribers that are away miss them.

use std::time::Duration;

use tokio::runtime::Runtime;

use super::super::destination::Destination;
use super::super::outbox::Message;
use super::Transport;

pub struct Nats {
    destination: Destination,
    connect_timeout: Duration,
    send_timeout: Duration,
    runtime: Runtime,
    client: Option<async_nats::Client>,
}

impl Nats {
    pub fn new(
        destination: Destination,
        connect_timeout: Duration,
        send_timeout: Duration,
        runtime: Runtime,
    ) -> Self {
        Self {
            destination,
            connect_timeout,
            send_timeout,
            runtime,
            client: None,
        }
    }
}

impl Transport for Nats {
    fn connect(&mut self) -> Result<(), String> {
        self.client = None;
        let d = &self.destination;
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(self.connect_timeout)
            .name("gst-savant savantpublish");
        if let Some(user) = &d.username {
            options =
                options.user_and_password(user.clone(), d.password.clone().unwrap_or_default());
        }
        if d.tls {
            options = options.require_tls(true);
        }
        let url = format!(
            "{}://{}:{}",
            if d.tls { "tls" } else { "nats" },
            if d.host.contains(':') {
                format!("[{}]", d.host)
            } else {
                d.host.clone()
            },
            d.port
        );
        let timeout = self.connect_timeout;
        let client = self
            .runtime
            .block_on(async {
                tokio::time::timeout(timeout, options.connect(url))
                    .await
                    .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| d.scrub(&e))?;
        self.client = Some(client);
        Ok(())
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), (usize, String)> {
        let Some(client) = self.client.clone() else {
            return Err((0, "not connected".into()));
        };
        let d = &self.destination;
        let timeout = self.send_timeout;
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                for message in batch {
                    let subject = d.topic_for(message.source_id.as_deref());
                    client
                        .publish(subject, message.payload.clone().into())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                client.flush().await.map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the server confirmed nothing within {} ms",
                    timeout.as_millis()
                ))
            })
        });
        result.map_err(|e| {
            self.client = None;
            (0, d.scrub(&e))
        })
    }
}
