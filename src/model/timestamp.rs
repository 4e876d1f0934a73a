// UTC timestamps as the service writes them (`yyyy-MM-ddTHH:mm:ssZ`), read leniently: the service has been seen
// to drop the `Z`, and Microsoft's own sample writes a space instead of `T`; such values are UTC as well.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

/// A UTC time to the second, written as `yyyy-MM-ddTHH:mm:ssZ`. Sub-seconds are dropped when a timestamp is made,
/// from text or from a chrono value, as the service writes and wants times. Years are 0001–9999, the four digits
/// of the wire format (and the range of the service's .NET `DateTime`): text outside them is refused, and a chrono
/// value or a sum outside them is held to the nearest end.
///
/// ```
/// use partner_center_insights::Timestamp;
/// let with_z: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
/// let without_z: Timestamp = "2026-12-01T00:00:00".parse().unwrap();
/// let with_fraction: Timestamp = "2026-12-01T00:00:00.75Z".parse().unwrap();
/// assert_eq!(with_z, without_z);
/// assert_eq!(with_z, with_fraction);
/// assert_eq!(with_z.to_string(), "2026-12-01T00:00:00Z");
/// let chrono_time = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00.75Z").unwrap().to_utc();
/// assert_eq!(Timestamp::from(chrono_time), with_z);
/// assert_eq!(with_z + std::time::Duration::from_millis(1500), "2026-12-01T00:00:01Z".parse().unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The time as a chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// Now, to the second (as the service writes times, so it compares equal to one read back).
    pub fn now() -> Self {
        Self(Utc::now().trunc_subsecs(0))
    }
}

/// The years the wire format's four digits can write.
const WIRE_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// A later time: `Timestamp::now() + Duration::from_secs(5 * 3600)`, at most 9999-12-31T23:59:59Z.
impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Self;

    fn add(self, duration: std::time::Duration) -> Self {
        let delta = chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX);
        Self::from(self.0.checked_add_signed(delta).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}

/// To the second, as the service writes times: `completed_after(Utc::now())` then takes a run generated within the
/// same second, and two times that print the same compare equal. Held to 0001–9999, the years the wire format has.
impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        if WIRE_YEARS.contains(&time.year()) {
            return Self(time.trunc_subsecs(0));
        }
        let end = if time.year() < 1 { "0001-01-01T00:00:00Z" } else { "9999-12-31T23:59:59Z" };
        Self(DateTime::parse_from_rfc3339(end).expect("a valid time").to_utc())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(time: Timestamp) -> Self {
        time.0
    }
}

impl std::str::FromStr for Timestamp {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text.trim()).map_err(|why| ValidationError::new("timestamp", format!("`{}` {why}", text.trim())))
    }
}

impl Timestamp {
    /// `text` read as a time, or why not (to follow the text, or a word for it).
    fn parse(text: &str) -> Result<Self, &'static str> {
        // The year as written, and the time in UTC.
        let (year, time) = match DateTime::parse_from_rfc3339(text) {
            Ok(time) => (time.year(), time.to_utc()),
            Err(_) => {
                // No offset (or a bare `Z` after a space-separated date): the docs say every time is UTC.
                let naive = text.strip_suffix(['Z', 'z']).unwrap_or(text);
                let time = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                    .iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(naive, format).ok())
                    .ok_or("is not yyyy-MM-ddTHH:mm:ssZ")?;
                (time.year(), time.and_utc())
            }
        };
        // chrono reads `+10000-…` and `-0001-…`, which the service's four-digit years cannot hold. A .NET extreme
        // with an offset (`0001-01-01T00:00:00+01:00`) is written in range, and held to it in UTC.
        if !WIRE_YEARS.contains(&year) {
            return Err("is not in the years 0001 to 9999");
        }
        Ok(Self::from(time))
    }
}

// What the generated builders convert from, so a time can be given as text (and bad text is refused before sending).
impl TryFrom<&str> for Timestamp {
    type Error = ValidationError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl TryFrom<&String> for Timestamp {
    type Error = ValidationError;

    fn try_from(text: &String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl TryFrom<String> for Timestamp {
    type Error = ValidationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Without the value in the error: an answer's field in the wrong place may hold anything, a signed link included.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::deserialize_str(deserializer, |text| {
            Self::parse(text.trim()).map_err(|why| ValidationError::new("timestamp", format!("the value {why}")))
        })
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> String {
        "Timestamp".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("date-time".to_owned()),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_the_wire_format_cannot_write_are_refused_or_held_to_its_ends() {
        for text in ["+10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "0000-12-31T23:59:59Z", "+10000-01-01T00:00:00"]
        {
            let error = text.parse::<Timestamp>().unwrap_err();
            assert_eq!(error.to_string(), format!("invalid timestamp: `{text}` is not in the years 0001 to 9999"));
        }
        for text in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            assert_eq!(text.parse::<Timestamp>().unwrap().to_string(), text);
        }
        let far = Timestamp::now() + std::time::Duration::from_secs(u64::MAX / 4);
        assert_eq!(far.to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp::from(DateTime::<Utc>::MAX_UTC).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp::from(DateTime::<Utc>::MIN_UTC).to_string(), "0001-01-01T00:00:00Z");
        // .NET's extremes written with an offset are in range as written: held to the ends in UTC.
        let first: Timestamp = "0001-01-01T00:00:00+01:00".parse().unwrap();
        assert_eq!(first.to_string(), "0001-01-01T00:00:00Z");
        let end: Timestamp = "9999-12-31T23:59:59.9999999-08:00".parse().unwrap();
        assert_eq!(end.to_string(), "9999-12-31T23:59:59Z");
        let last = "9999-12-31T23:59:59.5Z".parse::<Timestamp>().unwrap();
        assert_eq!(last + std::time::Duration::from_secs(1), last, "no further than the last second");
    }
}
