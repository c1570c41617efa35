//! Redis Streams: each message is `XADD <key> [MAXLEN ~ n] * message <json>`, a
//! batch in one pipeline on the redis crate's blocking connection. The batch counts
//! as sent when Redis answered every XADD (at least once: after a failure the batch
//! is added again, so a reader may see a message twice, never none).

use std::time::Duration;

use super::super::destination::Destination;
use super::super::outbox::Message;
use super::Transport;

pub struct RedisStreams {
    destination: Destination,
    max_len: u64,
    connect_timeout: Duration,
    send_timeout: Duration,
    connection: Option<redis::Connection>,
}

impl RedisStreams {
    pub fn new(
        destination: Destination,
        max_len: u64,
        connect_timeout: Duration,
        send_timeout: Duration,
    ) -> Self {
        Self {
            destination,
            max_len,
            connect_timeout,
            send_timeout,
            connection: None,
        }
    }

    /// The URL the redis crate reads, credentials included (never printed).
    fn url(&self) -> Result<url::Url, String> {
        let d = &self.destination;
        let scheme = if d.tls { "rediss" } else { "redis" };
        let host = if d.host.contains(':') {
            format!("[{}]", d.host)
        } else {
            d.host.clone()
        };
        let mut url = url::Url::parse(&format!("{scheme}://{host}:{}/{}", d.port, d.database))
            .map_err(|e| format!("{}: {e}", d.redacted()))?;
        let bad = |()| {
            format!(
                "{}: the user or password cannot be put in a URL",
                d.redacted()
            )
        };
        if let Some(user) = &d.username {
            url.set_username(user).map_err(bad)?;
        }
        if let Some(password) = &d.password {
            url.set_password(Some(password)).map_err(bad)?;
        }
        Ok(url)
    }
}

impl Transport for RedisStreams {
    fn connect(&mut self) -> Result<(), String> {
        self.connection = None;
        let client =
            redis::Client::open(self.url()?).map_err(|e| self.destination.scrub(&e.to_string()))?;
        let connection = client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(|e| self.destination.scrub(&e.to_string()))?;
        connection
            .set_read_timeout(Some(self.send_timeout))
            .and_then(|()| connection.set_write_timeout(Some(self.send_timeout)))
            .map_err(|e| self.destination.scrub(&e.to_string()))?;
        self.connection = Some(connection);
        Ok(())
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), (usize, String)> {
        let Some(connection) = self.connection.as_mut() else {
            return Err((0, "not connected".into()));
        };
        let mut pipe = redis::pipe();
        for message in batch {
            let key = self.destination.topic_for(message.source_id.as_deref());
            let command = pipe.cmd("XADD").arg(key);
            if self.max_len > 0 {
                command.arg("MAXLEN").arg("~").arg(self.max_len);
            }
            command.arg("*").arg("message").arg(&message.payload[..]);
        }
        let result: redis::RedisResult<Vec<redis::Value>> = pipe.query(connection);
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                self.connection = None;
                Err((0, self.destination.scrub(&e.to_string())))
            }
        }
    }
}
