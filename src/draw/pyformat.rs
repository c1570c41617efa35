//! Python's format-spec mini-language (`{confidence:.2f}`, `{speed:>6.1f}`), parsed
//! once when a draw spec loads and applied per object, so a Savant label format
//! prints here what `str.format` prints in Savant.

use std::fmt::Write;

/// A value a placeholder stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatValue<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
    /// Padding between the sign and the digits (`=`, or a leading `0`).
    AfterSign,
}

/// One parsed `[[fill]align][sign][#][0][width][,|_][.precision][type]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FormatSpec {
    fill: Option<char>,
    align: Option<Align>,
    sign: Option<char>,
    alternate: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

/// Widths and precisions beyond this are typos, and would allocate per object.
const MAX_WIDTH: usize = 256;

/// What a placeholder's value is known to be when the spec loads (attributes are
/// only known per object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Str,
    Int,
    Float,
    Any,
}

impl FormatSpec {
    /// Parses the text after `:`; `kind` rejects what Python would reject for that
    /// value (`{label:.2f}`).
    pub fn parse(text: &str, kind: ValueKind) -> Result<Self, String> {
        let mut spec = Self::default();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let align_of = |c: char| match c {
            '<' => Some(Align::Left),
            '>' => Some(Align::Right),
            '^' => Some(Align::Center),
            '=' => Some(Align::AfterSign),
            _ => None,
        };
        if chars.len() >= 2 && align_of(chars[1]).is_some() {
            spec.fill = Some(chars[0]);
            spec.align = align_of(chars[1]);
            i = 2;
        } else if let Some(align) = chars.first().and_then(|&c| align_of(c)) {
            spec.align = Some(align);
            i = 1;
        }
        if let Some(&c @ ('+' | '-' | ' ')) = chars.get(i) {
            spec.sign = Some(c);
            i += 1;
        }
        if chars.get(i) == Some(&'#') {
            spec.alternate = true;
            i += 1;
        }
        if chars.get(i) == Some(&'0') {
            spec.fill.get_or_insert('0');
            spec.align.get_or_insert(Align::AfterSign);
            i += 1;
        }
        let number = |i: &mut usize| -> Result<Option<usize>, String> {
            let start = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            if *i == start {
                return Ok(None);
            }
            let digits: String = chars[start..*i].iter().collect();
            match digits.parse::<usize>() {
                Ok(n) if n <= MAX_WIDTH => Ok(Some(n)),
                _ => Err(format!("{digits} is too large (at most {MAX_WIDTH})")),
            }
        };
        spec.width = number(&mut i)?.unwrap_or(0);
        if let Some(&c @ (',' | '_')) = chars.get(i) {
            spec.grouping = Some(c);
            i += 1;
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            spec.precision = Some(number(&mut i)?.ok_or("'.' must be followed by digits")?);
        }
        if let Some(&c) = chars.get(i) {
            if !"sbcdoxXneEfFgG%".contains(c) {
                return Err(format!("unknown format type '{c}'"));
            }
            spec.kind = Some(c);
            i += 1;
        }
        if i < chars.len() {
            return Err("invalid format spec".to_owned());
        }
        if spec.precision.is_some() && spec.kind.is_some_and(|k| "bcdoxX".contains(k)) {
            return Err("precision is not allowed with an integer format".to_owned());
        }
        let numeric_only = spec.sign.is_some()
            || spec.alternate
            || spec.grouping.is_some()
            || spec.align == Some(Align::AfterSign);
        match kind {
            ValueKind::Str if numeric_only || spec.kind.is_some_and(|k| k != 's') => {
                return Err("numeric format for a string value".to_owned())
            }
            ValueKind::Int | ValueKind::Float if spec.kind == Some('s') => {
                return Err("'s' format for a number".to_owned())
            }
            ValueKind::Float if spec.kind.is_some_and(|k| "bcdoxX".contains(k)) => {
                return Err(format!(
                    "integer format '{}' for a float value",
                    spec.kind.unwrap()
                ))
            }
            ValueKind::Int
                if spec.precision.is_some() && spec.kind.is_none_or(|k| "bcdoxXn".contains(k)) =>
            {
                return Err("precision is not allowed for an integer value".to_owned())
            }
            _ => {}
        }
        Ok(spec)
    }

    /// Appends `value` formatted as Python would; a value that does not fit the spec
    /// (an attribute of another type) is written plainly.
    pub fn write(&self, value: &FormatValue<'_>, out: &mut String) {
        let (sign_negative, body, numeric) = match value {
            FormatValue::Str(s) => {
                if self.kind.is_some_and(|k| k != 's') || self.sign.is_some() {
                    return out.push_str(s);
                }
                let s = match self.precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => (*s).to_owned(),
                };
                (false, s, false)
            }
            FormatValue::Bool(b) if self.kind.is_none() || self.kind == Some('s') => {
                (false, if *b { "True" } else { "False" }.to_owned(), false)
            }
            FormatValue::Bool(b) => return self.write(&FormatValue::Int(*b as i64), out),
            FormatValue::Int(n) => match self.kind {
                None | Some('d' | 'n') => (
                    *n < 0,
                    group(&n.unsigned_abs().to_string(), self.grouping),
                    true,
                ),
                Some(k @ ('x' | 'X' | 'o' | 'b')) => {
                    let magnitude = n.unsigned_abs();
                    let (digits, prefix) = match k {
                        'x' => (format!("{magnitude:x}"), "0x"),
                        'X' => (format!("{magnitude:X}"), "0X"),
                        'o' => (format!("{magnitude:o}"), "0o"),
                        _ => (format!("{magnitude:b}"), "0b"),
                    };
                    let prefix = if self.alternate { prefix } else { "" };
                    (*n < 0, format!("{prefix}{digits}"), true)
                }
                Some('c') => match u32::try_from(*n).ok().and_then(char::from_u32) {
                    Some(c) => (false, c.to_string(), false),
                    None => return out.push_str(&n.to_string()),
                },
                Some('s') => return out.push_str(&n.to_string()),
                Some(_) => return self.write(&FormatValue::Float(*n as f64), out),
            },
            FormatValue::Float(x) => {
                if self.kind.is_some_and(|k| "sbcdoxX".contains(k)) {
                    return out.push_str(&short_float(*x));
                }
                let magnitude = x.abs();
                let text = if !magnitude.is_finite() {
                    let t = if x.is_nan() { "nan" } else { "inf" };
                    if self.kind.is_some_and(|k| k.is_ascii_uppercase()) {
                        t.to_uppercase()
                    } else {
                        t.to_owned()
                    }
                } else {
                    match (self.kind, self.precision) {
                        (None, None) => short_float(magnitude),
                        (Some('f' | 'F'), p) => format!("{magnitude:.*}", p.unwrap_or(6)),
                        (Some('%'), p) => format!("{:.*}%", p.unwrap_or(6), magnitude * 100.0),
                        (Some(k @ ('e' | 'E')), p) => {
                            scientific(magnitude, p.unwrap_or(6), k == 'E', self.alternate)
                        }
                        (Some(k @ ('g' | 'G' | 'n')), p) => {
                            general(magnitude, p.unwrap_or(6), k == 'G', self.alternate, false)
                        }
                        (_, p) => general(magnitude, p.unwrap_or(12), false, self.alternate, true),
                    }
                };
                let text = match self.grouping {
                    Some(g) if magnitude.is_finite() => {
                        let end = text
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(text.len());
                        format!("{}{}", group(&text[..end], Some(g)), &text[end..])
                    }
                    _ => text,
                };
                (x.is_sign_negative() && !x.is_nan(), text, true)
            }
        };
        let sign = match (sign_negative, self.sign) {
            (true, _) => "-",
            (false, Some('+')) if numeric => "+",
            (false, Some(' ')) if numeric => " ",
            _ => "",
        };
        let length = sign.chars().count() + body.chars().count();
        let pad = self.width.saturating_sub(length);
        let fill = self.fill.unwrap_or(' ');
        let align = self
            .align
            .unwrap_or(if numeric { Align::Right } else { Align::Left });
        let repeat = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(fill, n));
        match align {
            Align::Left => {
                let _ = write!(out, "{sign}{body}");
                repeat(out, pad);
            }
            Align::Right => {
                repeat(out, pad);
                let _ = write!(out, "{sign}{body}");
            }
            Align::Center => {
                repeat(out, pad / 2);
                let _ = write!(out, "{sign}{body}");
                repeat(out, pad - pad / 2);
            }
            Align::AfterSign => {
                out.push_str(sign);
                repeat(out, pad);
                out.push_str(&body);
            }
        }
    }
}

/// A float as Python's `str()` writes it: the shortest text that reads back the
/// same, and for a value that came from a 32-bit float (a detector's confidence),
/// the shortest that reads back the same 32-bit float, not its 17 digits.
pub fn short_float(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan"
        } else if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_owned();
    }
    let narrow = x as f32;
    let text = if narrow as f64 == x {
        format!("{narrow}")
    } else {
        format!("{x}")
    };
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let digits = text.trim_start_matches('-').replace('.', "");
        let significant = digits
            .trim_start_matches('0')
            .trim_end_matches('0')
            .len()
            .max(1);
        let t = scientific(magnitude, significant - 1, false, false);
        return if x < 0.0 { format!("-{t}") } else { t };
    }
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// `e` format: one digit, `precision` decimals, a signed exponent of at least two digits.
fn scientific(x: f64, precision: usize, upper: bool, alternate: bool) -> String {
    let text = format!("{x:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').expect("Rust writes an exponent");
    let exponent: i32 = exponent.parse().expect("Rust writes an integer exponent");
    let point = if alternate && precision == 0 { "." } else { "" };
    let e = if upper { 'E' } else { 'e' };
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}{point}{e}{sign}{:02}", exponent.abs())
}

/// `g` format (and the no-type format when `keep_point`: a fixed number keeps
/// one decimal, `1.0` not `1`).
fn general(x: f64, precision: usize, upper: bool, alternate: bool, keep_point: bool) -> String {
    let precision = precision.max(1);
    if x == 0.0 {
        return if keep_point { "0.0" } else { "0" }.to_owned();
    }
    let rounded = format!("{x:.*e}", precision - 1);
    let exponent: i32 = rounded
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let strip = |t: String| -> String {
        if alternate || !t.contains('.') {
            return t;
        }
        let t = t.trim_end_matches('0');
        match t.strip_suffix('.') {
            Some(t) if keep_point => format!("{t}.0"),
            Some(t) => t.to_owned(),
            None => t.to_owned(),
        }
    };
    if -4 <= exponent && exponent < precision as i32 {
        let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
        let t = format!("{x:.decimals$}");
        let t = if keep_point && !t.contains('.') {
            format!("{t}.0")
        } else {
            t
        };
        strip(t)
    } else {
        let t = scientific(x, precision - 1, upper, alternate);
        let (mantissa, exponent) = t.split_at(t.find(['e', 'E']).expect("exponent"));
        let mantissa = if alternate || !mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            mantissa
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
        };
        format!("{mantissa}{exponent}")
    }
}

/// Digits with a separator every three, from the right.
fn group(digits: &str, separator: Option<char>) -> String {
    let Some(separator) = separator else {
        return digits.to_owned();
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(spec: &str, value: FormatValue<'_>) -> String {
        let mut out = String::new();
        FormatSpec::parse(spec, ValueKind::Any)
            .unwrap()
            .write(&value, &mut out);
        out
    }

    /// Expected texts are Python 3.11's `format(value, spec)`.
    #[test]
    fn formats_as_python_does() {
        use FormatValue::*;
        let cases: &[(&str, FormatValue, &str)] = &[
            (".2f", Float(0.87654), "0.88"),
            ("", Float(0.1), "0.1"),
            ("", Float(0.8999999761581421), "0.9"),
            ("", Float(3.0), "3.0"),
            ("", Float(1e20), "1e+20"),
            ("", Float(1.5e-7), "1.5e-07"),
            (".1f", Float(-12.25), "-12.2"),
            ("6.1f", Float(3.14359), "   3.1"),
            ("<6.1f", Float(3.14359), "3.1   "),
            ("^7.1f", Float(3.14359), "  3.1  "),
            ("06.1f", Float(-3.14359), "-003.1"),
            ("+.0f", Float(2.0), "+2"),
            (".1%", Float(0.256), "25.6%"),
            (".3e", Float(12345.678), "1.235e+04"),
            ("E", Float(0.5), "5.000000E-01"),
            ("g", Float(0.00001234), "1.234e-05"),
            (".3g", Float(1234.5), "1.23e+03"),
            ("g", Float(2.5), "2.5"),
            (".2", Float(1.0), "1.0"),
            (".2", Float(123.0), "1.2e+02"),
            (",.2f", Float(1234567.891), "1,234,567.89"),
            ("", Int(42), "42"),
            ("05d", Int(-42), "-0042"),
            (",", Int(1234567), "1,234,567"),
            ("#x", Int(255), "0xff"),
            ("X", Int(255), "FF"),
            (".1f", Int(3), "3.0"),
            (">5", Str("car"), "  car"),
            ("*^7", Str("car"), "**car**"),
            (".2", Str("truck"), "tr"),
            ("", Bool(true), "True"),
            ("d", Bool(true), "1"),
            (".1f", Str("n/a"), "n/a"),
        ];
        for (spec, value, expected) in cases {
            assert_eq!(fmt(spec, value.clone()), *expected, "{spec:?} {value:?}");
        }
    }

    #[test]
    fn rejects_what_python_rejects() {
        for (spec, kind) in [
            ("q", ValueKind::Any),
            (".f", ValueKind::Any),
            (".2fx", ValueKind::Any),
            (".2f", ValueKind::Str),
            ("d", ValueKind::Float),
            ("s", ValueKind::Int),
            (".2", ValueKind::Int),
            ("9999", ValueKind::Any),
            (".1d", ValueKind::Any),
        ] {
            assert!(FormatSpec::parse(spec, kind).is_err(), "{spec:?} {kind:?}");
        }
    }
}
