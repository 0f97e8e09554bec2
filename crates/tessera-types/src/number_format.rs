//! PostgreSQL's number templates for `to_char(number, '999D99S')`: the
//! template is read into keywords and literal text, its digit counts and
//! sign options are gathered (with PostgreSQL's 42601 errors for
//! contradictory ones), and the number is written digit position by digit
//! position as PostgreSQL's `NUM_processor` writes it — sign and blank
//! columns, `FM` trimming, `0` padding, `PR` brackets, `#` when the
//! integer part does not fit, `EEEE` and `RN`.
//!
//! The locale is C: `D` is `.`, `G` is `,`, `L` is a blank. Numbers are
//! given as their decimal text, so `numeric`, integer and float callers
//! share the engine; each rounds its value as PostgreSQL's function for
//! that type does before handing the text over.

use rust_decimal::Decimal;

use crate::numeric::Numeric;

use crate::error::Error;
use crate::sqlstate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Comma,
    Dec,
    Zero,
    Nine,
    B,
    C,
    D,
    E,
    Fm,
    G,
    L,
    Mi,
    Pl,
    Pr,
    RnUpper,
    RnLower,
    Sg,
    Sp,
    S,
    ThUpper,
    ThLower,
    V,
}

const KEYWORDS: &[(&str, Key)] = &[
    (",", Key::Comma),
    (".", Key::Dec),
    ("0", Key::Zero),
    ("9", Key::Nine),
    ("B", Key::B),
    ("C", Key::C),
    ("D", Key::D),
    ("EEEE", Key::E),
    ("FM", Key::Fm),
    ("G", Key::G),
    ("L", Key::L),
    ("MI", Key::Mi),
    ("PL", Key::Pl),
    ("PR", Key::Pr),
    ("RN", Key::RnUpper),
    ("SG", Key::Sg),
    ("SP", Key::Sp),
    ("S", Key::S),
    ("TH", Key::ThUpper),
    ("V", Key::V),
    ("b", Key::B),
    ("c", Key::C),
    ("d", Key::D),
    ("eeee", Key::E),
    ("fm", Key::Fm),
    ("g", Key::G),
    ("l", Key::L),
    ("mi", Key::Mi),
    ("pl", Key::Pl),
    ("pr", Key::Pr),
    ("rn", Key::RnLower),
    ("sg", Key::Sg),
    ("sp", Key::Sp),
    ("s", Key::S),
    ("th", Key::ThLower),
    ("v", Key::V),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Key(Key),
    Literal(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum LocaleSign {
    #[default]
    None,
    Pre,
    Post,
}

/// What a template asks for, gathered from its keywords.
#[derive(Debug, Clone, Default)]
struct Desc {
    pre: i64,
    post: i64,
    multi: i64,
    zero_start: i64,
    zero_end: i64,
    pre_lsign_num: i64,
    lsign: LocaleSign,
    decimal: bool,
    local_decimal: bool,
    zero: bool,
    fill_mode: bool,
    lsign_flag: bool,
    bracket: bool,
    minus: bool,
    plus: bool,
    roman: bool,
    multi_flag: bool,
    eeee: bool,
}

/// A parsed number template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    desc: Desc,
}

fn syntax(message: &str) -> Error {
    Error::new(sqlstate::SYNTAX_ERROR, message)
}

/// Reads a number template, with PostgreSQL's errors for keyword
/// combinations that cannot be honoured.
pub fn parse_template(template: &str) -> Result<Template, Error> {
    let mut nodes = Vec::new();
    let mut d = Desc::default();
    let mut rest = template;
    while !rest.is_empty() {
        if let Some((word, key)) = KEYWORDS.iter().find(|(w, _)| rest.starts_with(w)) {
            rest = &rest[word.len()..];
            prepare(&mut d, *key)?;
            nodes.push(Node::Key(*key));
            continue;
        }
        let Some((text, _, after)) = crate::datetime::to_char::template_text(rest) else {
            break;
        };
        nodes.extend(text.into_iter().map(Node::Literal));
        rest = after;
    }
    Ok(Template { nodes, desc: d })
}

/// Gathers one keyword into `d` (PostgreSQL's `NUMDesc_prepare`).
fn prepare(d: &mut Desc, key: Key) -> Result<(), Error> {
    if d.eeee && key != Key::E {
        return Err(syntax("\"EEEE\" must be the last pattern used"));
    }
    match key {
        Key::Nine => {
            if d.bracket {
                return Err(syntax("\"9\" must be ahead of \"PR\""));
            }
            if d.multi_flag {
                d.multi += 1;
            } else if d.decimal {
                d.post += 1;
            } else {
                d.pre += 1;
            }
        }
        Key::Zero => {
            if d.bracket {
                return Err(syntax("\"0\" must be ahead of \"PR\""));
            }
            if !d.zero && !d.decimal {
                d.zero = true;
                d.zero_start = d.pre + 1;
            }
            if d.decimal {
                d.post += 1;
            } else {
                d.pre += 1;
            }
            d.zero_end = d.pre + d.post;
        }
        Key::D | Key::Dec => {
            if key == Key::D {
                d.local_decimal = true;
            }
            if d.decimal {
                return Err(syntax("multiple decimal points"));
            }
            if d.multi_flag {
                return Err(syntax("cannot use \"V\" and decimal point together"));
            }
            d.decimal = true;
        }
        Key::Fm => d.fill_mode = true,
        Key::S => {
            if d.lsign_flag {
                return Err(syntax("cannot use \"S\" twice"));
            }
            if d.plus || d.minus || d.bracket {
                return Err(syntax(
                    "cannot use \"S\" and \"PL\"/\"MI\"/\"SG\"/\"PR\" together",
                ));
            }
            if !d.decimal {
                d.lsign = LocaleSign::Pre;
                d.pre_lsign_num = d.pre;
                d.lsign_flag = true;
            } else if d.lsign == LocaleSign::None {
                d.lsign = LocaleSign::Post;
                d.lsign_flag = true;
            }
        }
        Key::Mi => {
            if d.lsign_flag {
                return Err(syntax("cannot use \"S\" and \"MI\" together"));
            }
            d.minus = true;
        }
        Key::Pl => {
            if d.lsign_flag {
                return Err(syntax("cannot use \"S\" and \"PL\" together"));
            }
            d.plus = true;
        }
        Key::Sg => {
            if d.lsign_flag {
                return Err(syntax("cannot use \"S\" and \"SG\" together"));
            }
            d.minus = true;
            d.plus = true;
        }
        Key::Pr => {
            if d.lsign_flag || d.plus || d.minus {
                return Err(syntax(
                    "cannot use \"PR\" and \"S\"/\"PL\"/\"MI\"/\"SG\" together",
                ));
            }
            d.bracket = true;
        }
        Key::RnUpper | Key::RnLower => d.roman = true,
        Key::V => {
            if d.decimal {
                return Err(syntax("cannot use \"V\" and decimal point together"));
            }
            d.multi_flag = true;
        }
        Key::E => {
            if d.eeee {
                return Err(syntax("cannot use \"EEEE\" twice"));
            }
            if d.fill_mode
                || d.lsign_flag
                || d.bracket
                || d.minus
                || d.plus
                || d.roman
                || d.multi_flag
            {
                return Err(
                    syntax("\"EEEE\" is incompatible with other formats").with_detail(
                        "\"EEEE\" may only be used together with digit and decimal point patterns.",
                    ),
                );
            }
            d.eeee = true;
        }
        Key::B | Key::C | Key::G | Key::L | Key::Sp | Key::ThUpper | Key::ThLower | Key::Comma => {}
    }
    Ok(())
}

/// The Roman numeral of 1..=3999, else 15 `#`.
fn roman(n: i64) -> String {
    if !(1..=3999).contains(&n) {
        return "#".repeat(15);
    }
    const UNITS: [&str; 10] = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
    const TENS: [&str; 10] = ["", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"];
    const HUNDREDS: [&str; 10] = ["", "C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"];
    let mut s = "M".repeat((n / 1000) as usize);
    s.push_str(HUNDREDS[(n / 100 % 10) as usize]);
    s.push_str(TENS[(n / 10 % 10) as usize]);
    s.push_str(UNITS[(n % 10) as usize]);
    s
}

/// The number as the processor takes it: digits (and a point), the sign,
/// and how many leading positions are blank.
struct Prepared {
    number: String,
    sign: char,
    out_pre_spaces: i64,
}

/// The `#` text of a number whose integer part does not fit.
fn overflow(pre: i64, post: i64) -> String {
    let mut s: Vec<u8> = vec![b'#'; (pre + post + 1).max(0) as usize];
    if let Some(c) = s.get_mut(pre as usize) {
        *c = b'.';
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// Splits the text of a number already rounded to `post` digits.
fn prepare_digits(text: &str, pre: i64, post: i64) -> Prepared {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ('-', rest),
        None => ('+', text),
    };
    let pre_len = digits.find('.').unwrap_or(digits.len()) as i64;
    let mut p = Prepared {
        number: digits.to_string(),
        sign,
        out_pre_spaces: 0,
    };
    if pre_len < pre {
        p.out_pre_spaces = pre - pre_len;
    } else if pre_len > pre {
        p.number = overflow(pre, post);
    }
    p
}

/// The text of `d` rounded half away from zero to `scale` digits, with
/// exactly `scale` digits after the point, as numeric_out prints it
/// (`NaN` and the infinities as their names).
fn decimal_text(d: &Numeric, scale: i64) -> String {
    if !d.is_finite() {
        return d.to_string();
    }
    d.with_scale(scale.clamp(0, DIGITS_MAX) as u32).to_string()
}

/// Scientific notation of a decimal with `scale` fraction digits
/// (`1.23e+04`), as PostgreSQL's numeric_out_sci writes it.
fn decimal_sci(d: &Numeric, scale: i64) -> String {
    let (negative, mantissa, d_scale) = d.digits().unwrap_or_default();
    let digits = mantissa.trim_start_matches('0');
    let scale = scale.clamp(0, 1000) as usize;
    let (mut int_part, mut frac, exponent) = if digits.is_empty() {
        ("0".to_string(), "0".repeat(scale), 0i64)
    } else {
        let exponent = digits.len() as i64 - 1 - d_scale as i64;
        let all: Vec<u8> = digits.bytes().collect();
        let mut kept: Vec<u8> = all.iter().take(scale + 1).copied().collect();
        while kept.len() < scale + 1 {
            kept.push(b'0');
        }
        let round_up = all.get(scale + 1).is_some_and(|c| *c >= b'5');
        let mut carry = round_up;
        for c in kept.iter_mut().rev() {
            if !carry {
                break;
            }
            if *c == b'9' {
                *c = b'0';
            } else {
                *c += 1;
                carry = false;
            }
        }
        let text = String::from_utf8_lossy(&kept).into_owned();
        let int_part = if carry {
            format!("1{}", &text[..1])
        } else {
            text[..1].to_string()
        };
        (int_part, text[1..].to_string(), exponent)
    };
    if negative {
        int_part.insert(0, '-');
    }
    if !frac.is_empty() {
        frac.insert(0, '.');
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{int_part}{frac}e{sign}{:02}", exponent.abs())
}

/// C's `%+.*e` of a double, with the leading `+` a blank.
fn float_sci(v: f64, scale: i64) -> String {
    let text = format!("{:.*e}", scale.clamp(0, 1000) as usize, v);
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    let mantissa = if mantissa.starts_with('-') {
        mantissa.to_string()
    } else {
        format!(" {mantissa}")
    };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

/// The `#` text `EEEE` shows for NaN and the infinities.
fn sci_overflow(pre: i64, post: i64) -> String {
    let mut s: Vec<u8> = vec![b'#'; (pre + post + 6).max(1) as usize];
    s[0] = b' ';
    if let Some(c) = s.get_mut((pre + 1) as usize) {
        *c = b'.';
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// The most digits `to_char` will pad a number to (as PostgreSQL's
/// `NUM_MAX_ITEM_SIZ` bounds each pattern, the output stays small).
const DIGITS_MAX: i64 = 1000;

/// `to_char(numeric, template)`.
pub fn format_numeric(value: &Numeric, t: &Template) -> Result<String, Error> {
    let mut d = t.desc.clone();
    if d.roman {
        let n: i64 = value
            .to_i64_rounded("integer")
            .ok()
            .filter(|n: &i64| i32::try_from(*n).is_ok())
            .ok_or_else(|| Error::out_of_range("integer"))?;
        return Ok(process(&t.nodes, &mut d, roman(n), '+', 0));
    }
    if d.eeee {
        if !value.is_finite() {
            return Ok(sci_overflow(d.pre, d.post));
        }
        let text = decimal_sci(value, d.post);
        let text = if text.starts_with('-') {
            text
        } else {
            format!(" {text}")
        };
        return Ok(text);
    }
    let mut v = value.clone();
    if d.multi_flag {
        for _ in 0..d.multi {
            v = v.mul(&Numeric::from(10))?;
        }
        d.pre += d.multi;
    }
    if d.pre + d.post > DIGITS_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "to_char template is too long",
        ));
    }
    let p = prepare_digits(&decimal_text(&v, d.post), d.pre, d.post);
    Ok(process(
        &t.nodes,
        &mut d,
        p.number,
        p.sign,
        p.out_pre_spaces,
    ))
}

/// `to_char(integer, template)` for int2 and int4 (int8 goes through
/// [`format_numeric`], as PostgreSQL's goes through numeric).
pub fn format_int4(value: i64, t: &Template) -> Result<String, Error> {
    if t.desc.eeee {
        return Ok(float_sci(value as f64, t.desc.post));
    }
    format_numeric(&Numeric::from(value), t)
}

/// `to_char(double precision | real, template)`; `digits` is the type's
/// decimal precision (15 or 6), past which digits are dropped.
pub fn format_float(value: f64, digits: i64, t: &Template) -> Result<String, Error> {
    let mut d = t.desc.clone();
    if d.roman {
        let n = value.round_ties_even();
        let n = if n.is_finite() && n.abs() < 1e10 {
            n as i64
        } else {
            0
        };
        return Ok(process(&t.nodes, &mut d, roman(n), '+', 0));
    }
    if d.eeee {
        if !value.is_finite() {
            return Ok(sci_overflow(d.pre, d.post));
        }
        return Ok(float_sci(value, d.post));
    }
    let mut v = value;
    if d.multi_flag {
        v *= 10f64.powi(d.multi.min(400) as i32);
        d.pre += d.multi;
    }
    if d.pre + d.post > DIGITS_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "to_char template is too long",
        ));
    }
    let int_len = if v.is_finite() {
        format!("{:.0}", v.abs()).len() as i64
    } else {
        3
    };
    if int_len >= digits {
        d.post = 0;
    } else if int_len + d.post > digits {
        d.post = digits - int_len;
    }
    let text = if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{:.*}", d.post as usize, v)
    };
    let p = prepare_digits(&text, d.pre, d.post);
    Ok(process(
        &t.nodes,
        &mut d,
        p.number,
        p.sign,
        p.out_pre_spaces,
    ))
}

/// `to_number(text, template)` as PostgreSQL reads a number through a
/// template: each `9`/`0`/`D`/`.` position takes a digit (or the decimal
/// point) if the next character is one, a leading `-`/`+` (or `<` under
/// `PR`) is the sign, `S`, `MI`, `PL`, `SG` and `PR` read their sign
/// characters where they stand, `G`/`,` skip a `,`, `L` a currency
/// character, and any other template character skips one input
/// character whatever it is. Digits past the template's positions are
/// not read. The result has the digits read after the point as its
/// scale, must fit the template's digits before it (22003 otherwise),
/// and `V` divides it by ten per digit after it (at scale 16, as
/// PostgreSQL's `power`). `None` for an empty template (NULL).
pub fn to_number(input: &str, template: &str) -> Result<Option<Decimal>, Error> {
    if template.is_empty() {
        return Ok(None);
    }
    let t = parse_template(template)?;
    if t.desc.eeee {
        return Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "\"EEEE\" not supported for input",
        ));
    }
    if t.desc.roman {
        return Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "\"RN\" not supported for input",
        ));
    }
    let chars: Vec<char> = input.chars().collect();
    let mut r = NumberReader {
        chars: &chars,
        at: 0,
        sign: None,
        digits: String::new(),
        read_dec: false,
        read_pre: 0,
        read_post: 0,
    };
    for node in &t.nodes {
        if r.at >= chars.len() {
            break;
        }
        match node {
            Node::Key(Key::Nine | Key::Zero | Key::D | Key::Dec) => {
                r.digit_position(matches!(node, Node::Key(Key::Nine | Key::Zero)), &t.desc);
                r.at += 1;
            }
            Node::Key(Key::Comma | Key::G) => r.skip_if(|c| c == ','),
            Node::Key(Key::L) => r.skip_if(|c| !c.is_ascii_digit()),
            Node::Key(Key::Mi) => r.sign_if(|c| c == '-'),
            Node::Key(Key::Pl) => r.sign_if(|c| c == '+'),
            Node::Key(Key::S | Key::Sg) => r.sign_if(|c| c == '-' || c == '+'),
            Node::Key(Key::Pr) => r.skip_if(|c| c == '>'),
            Node::Key(_) => {}
            Node::Literal(_) => r.at += 1,
        }
    }
    let digits = r.digits.strip_suffix('.').unwrap_or(&r.digits);
    let sign = r.sign.unwrap_or(' ');
    let bad = || {
        Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type numeric: \"{sign}{digits}\""),
        )
    };
    if !digits.bytes().any(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut value: Decimal = digits.parse().map_err(|_| {
        Error::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value overflows numeric format",
        )
    })?;
    // The template's digits before the point bound the integer part.
    let precision = t.desc.pre + t.desc.multi + r.read_post;
    let whole = precision - r.read_post;
    let integer_digits = value.trunc().to_string().trim_start_matches('0').len() as i64;
    if integer_digits > whole {
        let bound = match whole {
            0 => "1".to_string(),
            n => format!("10^{n}"),
        };
        return Err(Error::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
            .with_detail(format!(
                "A field with precision {precision}, scale {} must round to an absolute value less than {bound}.",
                r.read_post
            )));
    }
    if sign == '-' {
        value.set_sign_negative(true);
    }
    if t.desc.multi > 0 {
        let scale = 10u64.pow(t.desc.multi.clamp(0, 19) as u32);
        value = match t.desc.multi {
            m if m > 16 => Decimal::ZERO,
            _ => value / Decimal::from(scale),
        };
        value.rescale(16);
    }
    if value.is_zero() {
        value.set_sign_negative(false);
    }
    Ok(Some(value))
}

/// Where [`to_number`] is in its input, and what it has read.
struct NumberReader<'a> {
    chars: &'a [char],
    at: usize,
    sign: Option<char>,
    /// The digits read, with `.` where the point was.
    digits: String,
    read_dec: bool,
    read_pre: i64,
    read_post: i64,
}

impl NumberReader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_if(&mut self, want: impl Fn(char) -> bool) {
        if self.peek().is_some_and(want) {
            self.at += 1;
        }
    }

    fn sign_if(&mut self, want: impl Fn(char) -> bool) {
        if let Some(c) = self.peek().filter(|c| want(*c)) {
            if self.sign.is_none() {
                self.sign = Some(c);
            }
            self.at += 1;
        }
    }

    /// A digit position of the template (`digit`: `9` or `0`, else the
    /// decimal point's): one blank is skipped, a sign before the first
    /// digit taken, then a digit or the point read.
    fn digit_position(&mut self, digit: bool, d: &Desc) {
        if self.peek() == Some(' ') {
            self.at += 1;
        }
        if digit && self.sign.is_none() && self.read_pre + self.read_post == 0 {
            match self.peek() {
                Some('-') => {
                    self.sign = Some('-');
                    self.at += 1;
                }
                Some('<') if d.bracket => {
                    self.sign = Some('-');
                    self.at += 1;
                }
                Some('+') => {
                    self.sign = Some('+');
                    self.at += 1;
                }
                _ => {}
            }
        }
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                if self.read_dec && self.read_post == d.post {
                    return;
                }
                self.digits.push(c);
                if self.read_dec {
                    self.read_post += 1;
                } else {
                    self.read_pre += 1;
                }
            }
            Some('.') if d.decimal && !self.read_dec => {
                self.digits.push('.');
                self.read_dec = true;
            }
            _ => {}
        }
    }
}

/// The position of the last digit after the point that is not a zero
/// (or of the point itself), for `FM`.
fn last_relevant(number: &[u8]) -> Option<usize> {
    let point = number.iter().position(|c| *c == b'.')?;
    let mut result = point;
    for (i, c) in number.iter().enumerate().skip(point + 1) {
        if *c != b'0' {
            result = i;
        }
    }
    Some(result)
}

/// Writes the number through the template (PostgreSQL's `NUM_processor`
/// for output).
fn process(
    nodes: &[Node],
    d: &mut Desc,
    number: String,
    sign: char,
    out_pre_spaces: i64,
) -> String {
    let number = number.into_bytes();
    let mut out = String::new();
    let mut sign = sign;
    let mut out_pre_spaces = out_pre_spaces;
    if d.zero_start > 0 {
        d.zero_start -= 1;
    }
    if d.roman {
        let fill = d.fill_mode;
        *d = Desc {
            fill_mode: fill,
            roman: true,
            ..Desc::default()
        };
        out_pre_spaces = 0;
        sign = '\0';
    }
    let mut sign_wrote;
    if d.plus || d.minus {
        sign_wrote = !d.plus || d.minus;
    } else {
        if sign != '-' && d.fill_mode {
            d.bracket = false;
        }
        sign_wrote = sign == '+' && d.fill_mode && !d.lsign_flag;
        if d.lsign == LocaleSign::Pre && d.pre == d.pre_lsign_num {
            d.lsign = LocaleSign::Post;
        }
    }
    let mut num_count = d.post + d.pre - 1;
    let mut last_rel: Option<usize> = None;
    if d.fill_mode && d.decimal {
        last_rel = last_relevant(&number);
        if last_rel.is_some() && d.zero_end > out_pre_spaces {
            let last_zero_pos = (number.len() as i64 - 1).min(d.zero_end - out_pre_spaces);
            if let Some(l) = last_rel {
                if (l as i64) < last_zero_pos {
                    last_rel = Some(last_zero_pos as usize);
                }
            }
        }
    }
    if !sign_wrote && out_pre_spaces == 0 {
        num_count += 1;
    }
    let mut num_in = false;
    let mut num_curr: i64 = 0;
    let mut number_p: usize = 0;
    let at = |i: usize| number.get(i).copied().unwrap_or(0);
    let last_is_point = |l: Option<usize>| l.is_some_and(|l| at(l) == b'.');
    for node in nodes {
        let key = match node {
            Node::Literal(c) => {
                out.push(*c);
                continue;
            }
            Node::Key(k) => *k,
        };
        match key {
            Key::Nine | Key::Zero | Key::Dec | Key::D => {
                if d.roman {
                    continue;
                }
                num_in = false;
                let predec_space =
                    |number_p: usize| !d.zero && number_p == 0 && at(0) == b'0' && d.post != 0;
                if !sign_wrote
                    && (num_curr >= out_pre_spaces || (d.zero && d.zero_start == num_curr))
                    && (!predec_space(number_p) || last_is_point(last_rel))
                {
                    if d.lsign_flag {
                        if d.lsign == LocaleSign::Pre {
                            out.push(if sign == '-' { '-' } else { '+' });
                            sign_wrote = true;
                        }
                    } else if d.bracket {
                        out.push(if sign == '+' { ' ' } else { '<' });
                        sign_wrote = true;
                    } else if sign == '+' {
                        if !d.fill_mode {
                            out.push(' ');
                        }
                        sign_wrote = true;
                    } else if sign == '-' {
                        out.push('-');
                        sign_wrote = true;
                    }
                }
                if num_curr < out_pre_spaces && (d.zero_start > num_curr || !d.zero) {
                    if !d.fill_mode {
                        out.push(' ');
                    }
                } else if d.zero && num_curr < out_pre_spaces && d.zero_start <= num_curr {
                    out.push('0');
                    num_in = true;
                } else {
                    if at(number_p) == b'.' {
                        out.push('.');
                    } else if last_rel.is_some_and(|l| number_p > l) && key != Key::Zero {
                        // Trailing zeros trimmed by FM.
                    } else if predec_space(number_p) {
                        if !d.fill_mode {
                            out.push(' ');
                        } else if last_is_point(last_rel) {
                            out.push('0');
                        }
                    } else {
                        let c = at(number_p);
                        if c != 0 {
                            out.push(c as char);
                        }
                        num_in = true;
                    }
                    if at(number_p) != 0 {
                        number_p += 1;
                    }
                }
                let mut end = num_count
                    + if out_pre_spaces != 0 { 1 } else { 0 }
                    + if d.decimal { 1 } else { 0 };
                if last_rel.is_some_and(|l| l == number_p) {
                    end = num_curr;
                }
                if num_curr + 1 == end {
                    if sign_wrote && d.bracket {
                        out.push(if sign == '+' { ' ' } else { '>' });
                    } else if d.lsign_flag && d.lsign == LocaleSign::Post {
                        out.push(if sign == '-' { '-' } else { '+' });
                    }
                }
                num_curr += 1;
            }
            Key::Comma => {
                if !num_in {
                    if !d.fill_mode {
                        out.push(' ');
                    }
                } else {
                    out.push(',');
                }
            }
            Key::G => {
                if !num_in {
                    if !d.fill_mode {
                        out.push(' ');
                    }
                } else {
                    out.push(',');
                }
            }
            Key::L => out.push(' '),
            Key::RnUpper | Key::RnLower => {
                let text = String::from_utf8_lossy(&number).into_owned();
                let text = if key == Key::RnLower {
                    text.to_ascii_lowercase()
                } else {
                    text
                };
                if d.fill_mode {
                    out.push_str(&text);
                } else {
                    out.push_str(&format!("{text:>15}"));
                }
            }
            Key::ThUpper | Key::ThLower => {
                if d.roman || at(0) == b'#' || sign == '-' || d.decimal {
                    continue;
                }
                let text = String::from_utf8_lossy(&number).into_owned();
                out.push_str(crate::datetime::to_char::ordinal_suffix(
                    &text,
                    key == Key::ThUpper,
                ));
            }
            Key::Mi => {
                if sign == '-' {
                    out.push('-');
                } else if !d.fill_mode {
                    out.push(' ');
                }
            }
            Key::Pl => {
                if sign == '+' {
                    out.push('+');
                } else if !d.fill_mode {
                    out.push(' ');
                }
            }
            Key::Sg => {
                if sign != '\0' {
                    out.push(sign);
                }
            }
            Key::B | Key::C | Key::E | Key::Fm | Key::Pr | Key::Sp | Key::S | Key::V => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: &str, t: &str) -> String {
        let d = Numeric::parse(v).unwrap();
        format_numeric(&d, &parse_template(t).unwrap()).unwrap()
    }

    #[test]
    fn formats_numbers_as_postgres() {
        assert_eq!(num("-12.5", "999.99"), " -12.50");
        assert_eq!(num("12.5", "FM999.99"), "12.5");
        assert_eq!(num("0.5", "9.99"), "  .50");
        assert_eq!(num("12345", "999"), " ###");
        assert_eq!(num("-485", "999PR"), "<485>");
        assert_eq!(num("485", "S999"), "+485");
        assert_eq!(num("1234567", "9,999,999"), " 1,234,567");
        assert_eq!(num("9.99", "9.9EEEE"), " 10.0e+00");
        assert_eq!(num("-12345.678", "9.99EEEE"), "-1.23e+04");
        assert_eq!(num("1999", "RN"), "        MCMXCIX");
        assert_eq!(num("42", "FM999th"), "42nd");
    }
}

#[cfg(test)]
mod to_number_tests {
    use super::*;

    fn read(input: &str, template: &str) -> Result<Option<String>, Error> {
        Ok(to_number(input, template)?.map(|d| d.to_string()))
    }

    #[test]
    fn reads_digits_signs_and_separators_where_the_template_has_them() {
        let cases = [
            ("12,454.8-", "99G999D9S", "-12454.8"),
            ("1234", "9,999", "1234"),
            ("1x234", "9,999", "123"),
            ("12345", "999", "123"),
            ("<123>", "999PR", "-123"),
            ("1.2345", "9.99", "1.23"),
            ("125", "99V9", "12.5000000000000000"),
            ("-0", "9", "0"),
        ];
        for (input, template, want) in cases {
            assert_eq!(
                read(input, template).expect(input),
                Some(want.to_string()),
                "{input} {template}"
            );
        }
        assert_eq!(read("12", "").expect("empty template"), None);
    }

    #[test]
    fn refuses_what_postgres_refuses() {
        let code = |input: &str, template: &str| read(input, template).unwrap_err().code;
        assert_eq!(code("abc", "999"), sqlstate::INVALID_TEXT_REPRESENTATION);
        assert_eq!(code("1,5", "9D9"), sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        assert_eq!(code("1", "9EEEE"), sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(code("1", "9.9.9"), sqlstate::SYNTAX_ERROR);
        // Far more digits than a decimal holds: an error, not a panic.
        let long = "9".repeat(40);
        assert!(read(&long, &long).is_err());
    }
}
