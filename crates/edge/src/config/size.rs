//! Sizes as operators write them (`20GiB`, `500MB`, `8MiB`, a number of bytes).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, written with a unit or without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

/// Parses `512MiB`, `20GiB`, `500MB`, `1000`.
///
/// # Errors
/// What is wrong with the text.
pub fn parse(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 512MiB or 20GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use B, KiB, MiB, GiB, TiB or kB, MB, GB, TB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

impl std::fmt::Display for Size {
    /// The largest binary unit that divides the size (`20GiB`), else bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if self.0 != 0 && self.0 % (1u64 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Int(u64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Int(n) => Ok(Self(n)),
            Either::Text(t) => parse(&t).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units() {
        assert_eq!(parse("20GiB"), Ok(20 << 30));
        assert_eq!(parse("500MB"), Ok(500_000_000));
        assert_eq!(parse("7"), Ok(7));
        assert!(parse("1PB").is_err());
        assert!(parse("GiB").is_err());
        assert!(parse("99999999999TiB").is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back(n in 0u64..(1 << 50)) {
            prop_assert_eq!(parse(&Size(n).to_string()), Ok(n));
        }
    }
}
