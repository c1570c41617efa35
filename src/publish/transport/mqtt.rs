//! MQTT 3.1.1 and 5 through rumqttc: its event loop runs as a task on the
//! publisher's tokio runtime, handing events to the sender, which publishes a batch
//! and waits until each message is out (QoS 0) or acknowledged (QoS 1: PUBACK, at
//! least once). After a failure the session is rebuilt and the unconfirmed part of
//! the batch published again.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use super::super::destination::Destination;
use super::super::outbox::Message;
use super::Transport;

/// Messages a batch publishes before waiting for their PUBACKs. A broker without
/// TCP_NODELAY (mosquitto's default) holds acknowledgements back ~40 ms, so a
/// batch's size sets QoS 1's rate there: 512 a round trip.
const BATCH: usize = 512;
/// Unacknowledged publishes rumqttc allows (its default, 100, would stall a batch).
const INFLIGHT: u16 = 1024;

/// What the sender needs of an MQTT session, whatever the protocol version.
pub struct MqttSettings {
    pub destination: Destination,
    pub client_id: String,
    pub qos: u8,
    pub version5: bool,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
}

/// An event the loop handed over: an acknowledgement, a message out, or the end.
enum Seen {
    ConnAck,
    Sent,
    Acked,
    Other,
    Failed(String),
}

macro_rules! session {
    ($clean:ident) => {
        pub struct Session {
            client: m::AsyncClient,
            events: mpsc::UnboundedReceiver<Seen>,
            task: tokio::task::JoinHandle<()>,
        }

        impl Session {
            pub fn open(runtime: &Runtime, settings: &super::MqttSettings) -> Self {
                let d = &settings.destination;
                let mut options = m::MqttOptions::new(&settings.client_id, &d.host, d.port);
                options.set_keep_alive(Duration::from_secs(30));
                options.$clean(true);
                if let Some(user) = &d.username {
                    options.set_credentials(user.clone(), d.password.clone().unwrap_or_default());
                }
                if d.tls {
                    options.set_transport(rumqttc::Transport::tls_with_default_config());
                }
                nodelay_options(&mut options);
                set_inflight(&mut options);
                let (client, mut eventloop) = m::AsyncClient::new(options, 2 * BATCH);
                nodelay_loop(&mut eventloop);
                let (tx, events) = mpsc::unbounded_channel();
                let task = runtime.spawn(async move {
                    loop {
                        let seen = match eventloop.poll().await {
                            Ok(m::Event::Incoming(Packet::ConnAck(_))) => Seen::ConnAck,
                            Ok(m::Event::Incoming(Packet::PubAck(_))) => Seen::Acked,
                            Ok(m::Event::Outgoing(rumqttc::Outgoing::Publish(_))) => Seen::Sent,
                            Ok(_) => Seen::Other,
                            Err(e) => Seen::Failed(e.to_string()),
                        };
                        let end = matches!(seen, Seen::Failed(_));
                        if tx.send(seen).is_err() || end {
                            break;
                        }
                    }
                });
                Self {
                    client,
                    events,
                    task,
                }
            }

            pub async fn publish(
                &self,
                topic: String,
                qos: u8,
                payload: Vec<u8>,
            ) -> Result<(), String> {
                let qos = if qos == 0 {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                };
                self.client
                    .publish(topic, qos, false, payload)
                    .await
                    .map_err(|e| e.to_string())
            }

            pub async fn next(&mut self) -> Seen {
                self.events
                    .recv()
                    .await
                    .unwrap_or_else(|| Seen::Failed("the connection ended".into()))
            }
        }

        impl Drop for Session {
            fn drop(&mut self) {
                self.task.abort();
            }
        }
    };
}

/// A batch waits for its acknowledgements: without TCP_NODELAY, Nagle's algorithm
/// and the broker's delayed ACK cost 40 ms a batch.
fn nodelay() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

mod v4 {
    use super::*;
    use rumqttc as m;
    use rumqttc::{Packet, QoS};
    session!(set_clean_session);

    // 3.1.1 keeps network options on the event loop.
    fn nodelay_options(_: &mut m::MqttOptions) {}
    fn set_inflight(options: &mut m::MqttOptions) {
        options.set_inflight(INFLIGHT);
    }
    fn nodelay_loop(eventloop: &mut m::EventLoop) {
        eventloop.set_network_options(nodelay());
    }
}

mod v5 {
    use super::*;
    use rumqttc::v5 as m;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    session!(set_clean_start);

    // 5 keeps them on the options.
    fn nodelay_options(options: &mut m::MqttOptions) {
        options.set_network_options(nodelay());
    }
    // The broker's receive maximum may lower it.
    fn set_inflight(options: &mut m::MqttOptions) {
        options.set_outgoing_inflight_upper_limit(INFLIGHT);
    }
    fn nodelay_loop(_: &mut m::EventLoop) {}
}

enum Session {
    V4(v4::Session),
    V5(v5::Session),
}

impl Session {
    async fn next(&mut self) -> Seen {
        match self {
            Session::V4(s) => s.next().await,
            Session::V5(s) => s.next().await,
        }
    }

    async fn publish(&self, topic: String, qos: u8, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Session::V4(s) => s.publish(topic, qos, payload).await,
            Session::V5(s) => s.publish(topic, qos, payload).await,
        }
    }
}

pub struct Mqtt {
    settings: MqttSettings,
    runtime: Runtime,
    session: Option<Session>,
}

impl Mqtt {
    pub fn new(settings: MqttSettings, runtime: Runtime) -> Self {
        Self {
            settings,
            runtime,
            session: None,
        }
    }
}

impl Transport for Mqtt {
    fn batch_limit(&self) -> usize {
        BATCH
    }

    fn connect(&mut self) -> Result<(), String> {
        self.session = None;
        let mut session = if self.settings.version5 {
            Session::V5(v5::Session::open(&self.runtime, &self.settings))
        } else {
            Session::V4(v4::Session::open(&self.runtime, &self.settings))
        };
        let timeout = self.settings.connect_timeout;
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                loop {
                    match session.next().await {
                        Seen::ConnAck => return Ok(()),
                        Seen::Failed(e) => return Err(e),
                        _ => {}
                    }
                }
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
        });
        let d = &self.settings.destination;
        result.map_err(|e| d.scrub(&e))?;
        self.session = Some(session);
        Ok(())
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), (usize, String)> {
        let Some(mut session) = self.session.take() else {
            return Err((0, "not connected".into()));
        };
        let qos = self.settings.qos;
        let d = &self.settings.destination;
        let timeout = self.settings.send_timeout;
        let mut confirmed = 0;
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                for message in batch {
                    let topic = d.topic_for(message.source_id.as_deref());
                    session.publish(topic, qos, message.payload.clone()).await?;
                }
                while confirmed < batch.len() {
                    match session.next().await {
                        Seen::Sent if qos == 0 => confirmed += 1,
                        Seen::Acked if qos > 0 => confirmed += 1,
                        Seen::Failed(e) => return Err(e),
                        _ => {}
                    }
                }
                Ok(())
            })
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the broker confirmed nothing within {} ms",
                    timeout.as_millis()
                ))
            })
        });
        match result {
            Ok(()) => {
                self.session = Some(session);
                Ok(())
            }
            Err(e) => Err((confirmed, d.scrub(&e))),
        }
    }
}
