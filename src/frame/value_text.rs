//! GStreamer's text for values, bounded: what Python sees of an attribute that is not
//! a number, string or boolean (fractions, caps, arrays, structures), and text handed
//! to GStreamer's parser (caps for `Frame.from_buffer`, a changed attribute keeping
//! its type). GStreamer's parser and serializer recurse without a limit and a
//! structure's text doubles with each level it is nested in; both are bounded here
//! before GStreamer is called, in time linear in the value or text.

use gst::glib;
use gst::prelude::*;

/// The deepest nesting of values the plugin reads or hands to GStreamer: arrays,
/// lists, structures and caps inside one another, and in text `(`, `[`, `{`, `<`
/// and quoted values. GStreamer's parser and serializer recurse once per level on
/// the calling thread's stack, with no limit of their own: 30,000 levels
/// (`a={{{{...`) overflow the stack and kill the process. Raw video caps nest two or
/// three levels deep (`video/x-raw(memory:CUDAMemory)`, `{ RGBA, BGRx }`,
/// `[ 1, 8192 ]`), metadata a few more.
pub const MAX_NESTING: usize = 32;

/// The longest text of one value the plugin builds or parses for Python (an
/// attribute that is a fraction, caps, an array, a structure ...). GStreamer quotes
/// and escapes a structure inside a structure, so its text about doubles with each
/// level: without this bound, 24 levels of a few bytes each take a gigabyte.
pub const MAX_VALUE_TEXT_BYTES: usize = 1 << 20;

/// Why a value's text is not built, or text is not handed to GStreamer's parser.
/// Reads after the subject: "the caps text is 70000 bytes, longer than ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// The length in bytes (for a value: at least this), and the limit.
    TooLong(usize, usize),
    TooDeep,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong(len, max) => {
                write!(f, "is {len} bytes or more, longer than the {max} accepted")
            }
            Self::TooDeep => write!(
                f,
                "nests deeper than {MAX_NESTING} levels (arrays, lists, structures, caps; \
                 in text (, [, {{, < and quoted values), which GStreamer's recursive parser \
                 and serializer cannot take safely"
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// Checks that `text` is at most `max_bytes` long and shallow enough for GStreamer's
/// recursive parser (caps, or a value of a given type), before it sees the text.
///
/// Depth counts the brackets GStreamer nests on: `(` (caps features, type casts),
/// `[` (ranges), `{` (lists) and `<` (arrays), and their closers. A quoted value is
/// one level more, and its text (unescaped as GStreamer does) is scanned at that
/// level too: GStreamer parses the string of a `(structure)"..."` or `(GstCaps)"..."`
/// value again, recursively, so brackets written inside quotes (or as `\173` octal
/// escapes there) nest as well. Closers inside quotes never close brackets outside.
/// This errs on the strict side only for strings holding more than 32 unclosed
/// brackets, which video caps never do.
pub fn check(text: &str, max_bytes: usize) -> Result<(), TextError> {
    if text.len() > max_bytes {
        return Err(TextError::TooLong(text.len(), max_bytes));
    }
    check_nesting(text.as_bytes(), 0)
}

/// Scans `text`, which starts `depth` levels deep; see `check`. Recurses once
/// per quoted level, which counts towards MAX_NESTING, so at most that deep.
fn check_nesting(text: &[u8], mut depth: usize) -> Result<(), TextError> {
    // Closers that close nothing opened in this text cannot go below where it started.
    let floor = depth;
    let mut rest = text;
    while let Some((&byte, after)) = rest.split_first() {
        rest = after;
        match byte {
            b'(' | b'[' | b'{' | b'<' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TextError::TooDeep);
                }
            }
            b')' | b']' | b'}' | b'>' => depth = depth.saturating_sub(1).max(floor),
            b'"' => {
                // The quoted value is one level deeper than where it stands.
                if depth >= MAX_NESTING {
                    return Err(TextError::TooDeep);
                }
                let (quoted, after_quote) = unquote(rest);
                check_nesting(&quoted, depth + 1)?;
                rest = after_quote;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The text of the quoted string that `text` starts inside of (its opening quote
/// already read), unescaped as GStreamer's `gst_string_unwrap` does (`\ooo` is the
/// octal byte, `\x` is `x`), and the text after its closing quote. An unterminated
/// string runs to the end of the text.
fn unquote(text: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut quoted = Vec::new();
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'"' => return (quoted, &text[i + 1..]),
            b'\\' => match text.get(i + 1..i + 4) {
                Some(&[high @ b'0'..=b'3', middle @ b'0'..=b'7', low @ b'0'..=b'7']) => {
                    quoted.push(((high - b'0') << 6) | ((middle - b'0') << 3) | (low - b'0'));
                    i += 4;
                }
                _ => {
                    quoted.extend(text.get(i + 1));
                    i += 2;
                }
            },
            _ => {
                quoted.push(byte);
                i += 1;
            }
        }
    }
    (quoted, &[])
}

/// GStreamer's text for `value`, built only when the value nests at most
/// MAX_NESTING deep and its text is known to stay under MAX_VALUE_TEXT_BYTES.
pub fn render(value: &glib::Value) -> Result<String, TextError> {
    text_size(value)?;
    // A value GStreamer cannot write (a pointer, an object) reads as "".
    Ok(value.serialize().map(|s| s.to_string()).unwrap_or_default())
}

/// An upper bound of the length of GStreamer's text for `value` (within a small
/// factor), found in one walk over the value, without building the text; or why the
/// text would not be built. Nested values count one level each.
pub fn text_size(value: &glib::Value) -> Result<usize, TextError> {
    let size = estimate(value, 0)?;
    if size > MAX_VALUE_TEXT_BYTES {
        return Err(TextError::TooLong(size, MAX_VALUE_TEXT_BYTES));
    }
    Ok(size)
}

/// Stops as soon as the running size passes the limit, so the walk is also bounded
/// by the limit, not only by the value.
fn estimate(value: &glib::Value, depth: usize) -> Result<usize, TextError> {
    if depth > MAX_NESTING {
        return Err(TextError::TooDeep);
    }
    let too_long = |size: usize| {
        if size > MAX_VALUE_TEXT_BYTES {
            Err(TextError::TooLong(size, MAX_VALUE_TEXT_BYTES))
        } else {
            Ok(size)
        }
    };
    let items = |values: &mut dyn Iterator<Item = &glib::Value>| -> Result<usize, TextError> {
        let mut size = 4usize;
        for item in values {
            size = too_long(size + 2 + estimate(item, depth + 1)?)?;
        }
        Ok(size)
    };
    // A structure or caps inside another value is quoted and escaped: at most twice
    // its own text (the first escaping of a byte is the longest, `\ooo`, and the
    // leaves' own text already has it).
    let nested = |size: usize| too_long(if depth > 0 { 2 * size + 2 } else { size });
    if let Ok(array) = value.get::<gst::ArrayRef>() {
        return items(&mut array.iter().map(|v| &**v));
    }
    if let Ok(list) = value.get::<gst::ListRef>() {
        return items(&mut list.iter().map(|v| &**v));
    }
    if let Ok(Some(structure)) = value.get::<Option<&gst::StructureRef>>() {
        return nested(structure_size(structure, depth)?);
    }
    if let Ok(Some(caps)) = value.get::<Option<&gst::CapsRef>>() {
        let mut size = 16usize;
        for (structure, features) in caps.iter_with_features() {
            size = too_long(size + 4 + features.to_string().len())?;
            size = too_long(size + structure_size(structure, depth)?)?;
        }
        return nested(size);
    }
    if let Ok(Some(tags)) = value.get::<Option<&gst::TagListRef>>() {
        let mut size = 16usize;
        for (name, values) in tags.iter_generic() {
            size = too_long(size + name.len() + 16)?;
            for item in values {
                size = too_long(size + 2 + estimate(item, depth + 1)?)?;
            }
        }
        return nested(size);
    }
    // A leaf: its own text, linear in its size (a string's escapes included).
    too_long(value.serialize().map(|s| s.len()).unwrap_or_default())
}

fn structure_size(structure: &gst::StructureRef, depth: usize) -> Result<usize, TextError> {
    let mut size = structure.name().len() + 2;
    for (field, value) in structure.iter() {
        // ", field=(type)value"
        size += field.len() + value.type_().name().len() + 6 + estimate(value, depth + 1)?;
        if size > MAX_VALUE_TEXT_BYTES {
            return Err(TextError::TooLong(size, MAX_VALUE_TEXT_BYTES));
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame.from_buffer's limit for caps text.
    const CAPS: usize = 64 * 1024;

    fn nested(depth: usize) -> String {
        format!("video/x-raw,a={}1{}", "{".repeat(depth), "}".repeat(depth))
    }

    #[test]
    fn video_caps_as_gstreamer_writes_them_pass() {
        for caps in [
            "video/x-raw, format=(string)RGBA, width=(int)640, height=(int)480, \
             framerate=(fraction)30/1",
            "video/x-raw(memory:CUDAMemory), format=(string){ RGBA, BGRx }, \
             width=(int)[ 1, 8192 ], height=(int)[ 1, 8192 ]",
            "video/x-raw, format=(string)NV12, width=(int)1920, height=(int)1080, \
             multiview-flags=(GstVideoMultiviewFlagsSet)0:ffffffff:/right-view-first; \
             video/x-raw, format=(string)I420, chroma-site=(string)\"jpeg\", \
             views=(int)< 1, 2 >",
            "",
        ] {
            assert_eq!(check(caps, CAPS), Ok(()), "{caps}");
        }
    }

    #[test]
    fn thirty_thousand_levels_are_refused_before_gstreamer_parses_them() {
        assert_eq!(
            check(&format!("video/x-raw,a={}", "{".repeat(30_000)), CAPS),
            Err(TextError::TooDeep)
        );
        assert_eq!(check(&nested(30_000), CAPS), Err(TextError::TooDeep));
        let mixed = "([{<".repeat(7_500);
        assert_eq!(
            check(&format!("video/x-raw,a={mixed}"), CAPS),
            Err(TextError::TooDeep)
        );
    }

    #[test]
    fn thirty_two_levels_pass_and_thirty_three_do_not() {
        assert_eq!(check(&nested(MAX_NESTING), CAPS), Ok(()));
        assert_eq!(
            check(&nested(MAX_NESTING + 1), CAPS),
            Err(TextError::TooDeep)
        );
        // Depth, not count: many shallow lists one after another are fine.
        let lists: Vec<String> = (0..1000).map(|i| format!("f{i}={{ 1, 2 }}")).collect();
        assert_eq!(
            check(&format!("video/x-raw,{}", lists.join(",")), CAPS),
            Ok(())
        );
    }

    #[test]
    fn brackets_inside_quoted_strings_do_not_close_brackets_outside() {
        // Quoted closers and an escaped quote: the string is one value.
        let quoted = r#""}}} ]]] >>> ))) \" }}}""#;
        assert_eq!(
            check(&format!("video/x-raw,a=(string){quoted},b={{ 1 }}"), CAPS),
            Ok(())
        );
        // 30 levels open around it stay open: 3 more make 33.
        let text = format!("video/x-raw,a={}{quoted}{}", "{".repeat(30), "{".repeat(3));
        assert_eq!(check(&text, CAPS), Err(TextError::TooDeep));
        // A quote after an escaped backslash ends the string: the closers after it
        // close the 30 levels open before it, leaving room for 5 more.
        let text = format!(
            r#"video/x-raw,a={}"\\"{}{}"#,
            "{".repeat(30),
            "}".repeat(3),
            "{".repeat(5)
        );
        assert_eq!(check(&text, CAPS), Ok(()));
    }

    #[test]
    fn nesting_inside_quoted_structures_counts() {
        // GStreamer parses the string of a (structure) value again.
        let text = format!("video/x-raw,a=(structure)\"s,b={}\"", "{".repeat(30_000));
        assert_eq!(check(&text, CAPS), Err(TextError::TooDeep));
        // Brackets written as octal escapes are brackets once unescaped.
        let text = format!("video/x-raw,a=(structure)\"s,b={}\"", r"\173".repeat(40));
        assert_eq!(check(&text, CAPS), Err(TextError::TooDeep));
        // A few levels of quoted structures are normal.
        let text = r#"video/x-raw,a=(structure)"s,b=(structure)\"t,c={ 1, 2 }\"""#;
        assert_eq!(check(text, CAPS), Ok(()));
    }

    #[test]
    fn text_longer_than_64_kib_is_refused() {
        let text = format!("video/x-raw,a={}", "x".repeat(CAPS));
        assert_eq!(
            check(&text, CAPS),
            Err(TextError::TooLong(text.len(), CAPS))
        );
        let message = TextError::TooDeep.to_string();
        assert!(message.contains("nests deeper than 32"), "{message}");
    }

    fn nested_structures(depth: usize) -> gst::Structure {
        let mut s = gst::Structure::builder("leaf").field("v", 1i32).build();
        for i in 0..depth {
            s = gst::Structure::builder(format!("n{i}"))
                .field("inner", s)
                .build();
        }
        s
    }

    fn nested_arrays(depth: usize) -> glib::SendValue {
        let mut v = 1i32.to_send_value();
        for _ in 0..depth {
            v = gst::Array::new([v]).to_send_value();
        }
        v
    }

    #[test]
    fn shallow_values_render_as_gstreamer_writes_them() {
        gst::init().unwrap();
        let value = gst::Fraction::new(2, 3).to_send_value();
        assert_eq!(render(&value).unwrap(), "2/3");
        let value = nested_structures(3).to_send_value();
        assert_eq!(render(&value).unwrap(), value.serialize().unwrap().as_str());
        let estimate = text_size(&value).unwrap();
        assert!(estimate >= value.serialize().unwrap().len());
    }

    #[test]
    fn deep_values_are_refused_before_gstreamer_walks_them() {
        gst::init().unwrap();
        assert_eq!(render(&nested_arrays(MAX_NESTING)).map(drop), Ok(()));
        assert_eq!(
            render(&nested_arrays(MAX_NESTING + 1)),
            Err(TextError::TooDeep)
        );
        // 3,000 levels: refused at the 33rd. (Deeper values overflow GStreamer's own
        // recursive free on a test thread's 2 MiB stack, before this is called.)
        assert_eq!(render(&nested_arrays(3_000)), Err(TextError::TooDeep));
    }

    #[test]
    fn structures_whose_text_doubles_per_level_stop_at_the_size_bound_quickly() {
        gst::init().unwrap();
        // 24 levels: GStreamer's text would be about a gigabyte.
        let value = nested_structures(24).to_send_value();
        let started = std::time::Instant::now();
        assert!(matches!(
            render(&value),
            Err(TextError::TooLong(_, MAX_VALUE_TEXT_BYTES))
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // 10 levels are about 30 kB: rendered, exactly as GStreamer writes them.
        let value = nested_structures(10).to_send_value();
        assert_eq!(render(&value).unwrap(), value.serialize().unwrap().as_str());
    }
}
