//! MQTT 3.1.1 session over tokio with mqttrs, with a durable on-disk outbox.
