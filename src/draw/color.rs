//! RGBA colours as Savant writes them: "RRGGBBAA" hex (or "RRGGBB", opaque).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgba {
    pub r: u8,
    pub g: u8,
    pub b: u8,
    pub a: u8,
}

impl Rgba {
    pub const fn new(r: u8, g: u8, b: u8, a: u8) -> Self {
        Self { r, g, b, a }
    }

    /// A colour as Savant writes it: `RRGGBBAA` or `RRGGBB` (opaque) in hex, a
    /// leading `#` allowed.
    ///
    /// # Errors
    ///
    /// Text that is not such a colour, with the reason.
    ///
    /// # Panics
    ///
    /// Never: the digits are checked before they are read.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text.trim().trim_start_matches('#');
        let valid =
            (hex.len() == 8 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(format!(
                "invalid colour {text:?}: expected RRGGBBAA hex, e.g. \"00FF00FF\""
            ));
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex");
        Ok(Self {
            r: byte(0),
            g: byte(2),
            b: byte(4),
            a: if hex.len() == 8 { byte(6) } else { 255 },
        })
    }

    pub fn is_transparent(&self) -> bool {
        self.a == 0
    }

    /// BT.601 limited-range Y, U, V (what decoders' I420/NV12 use by default).
    pub fn to_yuv(self) -> (u8, u8, u8) {
        let (r, g, b) = (self.r as f32, self.g as f32, self.b as f32);
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        let c = |x: f32| x.round().clamp(0.0, 255.0) as u8;
        (c(y), c(u), c(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_savant_hex_and_rejects_the_rest() {
        assert_eq!(Rgba::parse("FF000080").unwrap(), Rgba::new(255, 0, 0, 128));
        assert_eq!(Rgba::parse("#00ff00").unwrap(), Rgba::new(0, 255, 0, 255));
        for bad in ["", "FF00", "GG000000", "FF0000FF00"] {
            assert!(
                Rgba::parse(bad).unwrap_err().contains("invalid colour"),
                "{bad}"
            );
        }
    }
}
