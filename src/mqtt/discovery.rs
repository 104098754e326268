//! Home Assistant MQTT discovery: one sensor whose state is the top tag of the last track,
//! and three binary sensors (problems) for dead air, clipping and a lost source.
//!
//! The sensor reads the track topic: its state comes from `value_template` and its
//! attributes are the whole track message (so the full tag list is there); the binary
//! sensors read the retained `health` topic; availability follows the status topic. The config is retained, sent on every connect, and sent again
//! whenever Home Assistant announces itself (`{discovery_prefix}/status` = `online`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Topics;

/// Default state template: the first tag of the message's `tags` list (`{tag, score}` items).
pub const DEFAULT_VALUE_TEMPLATE: &str =
    "{{ value_json.tags[0].tag if value_json.tags is defined and value_json.tags else 'none' }}";

/// The `health` message's alarms announced as binary sensors: (key, name shown).
pub const HEALTH_ALARMS: [(&str, &str); 3] = [
    ("dead_air", "Dead air"),
    ("clipping", "Clipping"),
    ("source_lost", "Source lost"),
];

/// Home Assistant discovery settings, the `[mqtt.home_assistant]` table of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaSettings {
    /// Announce the sensor; off by default.
    pub enabled: bool,
    /// Discovery prefix, `homeassistant` unless Home Assistant was configured otherwise.
    pub discovery_prefix: String,
    /// Name shown for the device in Home Assistant.
    pub name: String,
    /// Jinja template giving the sensor state from a track message (not a file key: the
    /// message layout is hark's, so is the template that reads it).
    #[serde(skip)]
    pub value_template: String,
}

impl Default for HaSettings {
    /// Discovery off, prefix `homeassistant`, name `hark`, the default template.
    fn default() -> Self {
        HaSettings {
            enabled: false,
            discovery_prefix: "homeassistant".to_string(),
            name: "hark".to_string(),
            value_template: DEFAULT_VALUE_TEMPLATE.to_string(),
        }
    }
}

impl HaSettings {
    /// Discovery on, with the `homeassistant` prefix and the default template.
    pub fn new(name: impl Into<String>) -> Self {
        HaSettings {
            enabled: true,
            name: name.into(),
            ..HaSettings::default()
        }
    }

    /// The retained config topic for a device.
    pub fn config_topic(&self, device: &str) -> String {
        format!("{}/sensor/{device}/tags/config", self.discovery_prefix)
    }

    /// The topic Home Assistant publishes its birth and last-will messages on.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }

    /// Every entity's (config topic, payload): the tags sensor, then the health alarms.
    pub fn configs(&self, device: &str, topics: &Topics) -> Vec<(String, Value)> {
        let mut all = vec![(
            self.config_topic(device),
            self.config_payload(device, topics),
        )];
        for (key, name) in HEALTH_ALARMS {
            all.push((
                format!(
                    "{}/binary_sensor/{device}/{key}/config",
                    self.discovery_prefix
                ),
                self.health_payload(device, topics, key, name),
            ));
        }
        all
    }

    /// A binary sensor (device class `problem`) on one flag of the `health` message.
    fn health_payload(&self, device: &str, topics: &Topics, key: &str, name: &str) -> Value {
        json!({
            "name": name,
            "unique_id": format!("hark_{device}_{key}"),
            "state_topic": topics.health,
            "value_template": format!("{{{{ 'ON' if value_json.{key} else 'OFF' }}}}"),
            "device_class": "problem",
            "availability_topic": topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self.device_block(device),
        })
    }

    fn device_block(&self, device: &str) -> Value {
        json!({
            "identifiers": [format!("hark_{device}")],
            "name": self.name,
            "manufacturer": "hark",
            "model": "hark music tagger",
            "sw_version": env!("CARGO_PKG_VERSION"),
        })
    }

    /// The discovery config payload of the tags sensor for a device.
    pub fn config_payload(&self, device: &str, topics: &Topics) -> Value {
        json!({
            "name": "Tags",
            "unique_id": format!("hark_{device}_tags"),
            "state_topic": topics.track,
            "value_template": self.value_template,
            "json_attributes_topic": topics.track,
            "availability_topic": topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "icon": "mdi:music",
            "device": self.device_block(device),
            "origin": {
                "name": "hark",
                "sw_version": env!("CARGO_PKG_VERSION"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_at_our_topics() {
        let ha = HaSettings::new("Kitchen radio");
        let topics = Topics::new("hark", "kitchen");
        assert_eq!(
            ha.config_topic("kitchen"),
            "homeassistant/sensor/kitchen/tags/config"
        );
        assert_eq!(ha.status_topic(), "homeassistant/status");
        let c = ha.config_payload("kitchen", &topics);
        assert_eq!(c["state_topic"], "hark/kitchen/track");
        assert_eq!(c["json_attributes_topic"], "hark/kitchen/track");
        assert_eq!(c["availability_topic"], "hark/kitchen/status");
        assert_eq!(c["unique_id"], "hark_kitchen_tags");
        assert_eq!(c["device"]["name"], "Kitchen radio");
        assert_eq!(c["value_template"], DEFAULT_VALUE_TEMPLATE);
        let all = ha.configs("kitchen", &topics);
        assert_eq!(all.len(), 4);
        let (topic, dead_air) = &all[1];
        assert_eq!(topic, "homeassistant/binary_sensor/kitchen/dead_air/config");
        assert_eq!(dead_air["state_topic"], "hark/kitchen/health");
        assert_eq!(
            dead_air["value_template"],
            "{{ 'ON' if value_json.dead_air else 'OFF' }}"
        );
        assert_eq!(dead_air["device"], c["device"]);
    }
}
